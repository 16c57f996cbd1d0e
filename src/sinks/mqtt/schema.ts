import { z } from "zod";
import { deliveryFields } from "../../plugin.ts";
import { brokerFields } from "../../mqtt/broker.ts";

/** Config of the MQTT sink. */
export const mqttSinkSchema = z.strictObject({
  type: z.literal("mqtt"),
  ...deliveryFields,
  ...brokerFields,
  /** Topic template: {gateway} {source} {node} {kind} {level} {field}; with {field}, one message per field. */
  topic: z.string().min(1).default("gateway/{gateway}/{node}/{kind}"),
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
  retain: z.boolean().default(false),
});

/** Parsed MQTT sink config. */
export type MqttSinkConfig = z.output<typeof mqttSinkSchema>;
