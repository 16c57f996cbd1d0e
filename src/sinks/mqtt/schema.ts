import { z } from "zod";
import { deliveryFields } from "../sink.ts";

/** Config of the MQTT sink. */
export const mqttSinkSchema = z.strictObject({
  type: z.literal("mqtt"),
  ...deliveryFields,
  url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, "expected mqtt://host:port or mqtts://..."),
  /** Stable client id, so the broker keeps the session across reconnects. */
  client_id: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Topic template: {gateway} {source} {node} {kind} {level} {field}; with {field}, one message per field. */
  topic: z.string().min(1).default("gateway/{gateway}/{node}/{kind}"),
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
  retain: z.boolean().default(false),
  /** Keep the session (and QoS 1 in-flight messages) across reconnects. */
  clean: z.boolean().default(false),
  /** CA / client certificate files for mqtts. */
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
});

/** Parsed MQTT sink config. */
export type MqttSinkConfig = z.output<typeof mqttSinkSchema>;
