import type mqtt from "mqtt";
import type { Envelope } from "../../model.ts";
import { defineSink, type Sink, type SinkContext } from "../../plugin.ts";
import { closeBroker, connectBroker, publishAll } from "../../mqtt/broker.ts";
import { encodeMessages } from "./encode.ts";
import { type MqttSinkConfig, mqttSinkSchema } from "./schema.ts";

/**
 * MQTT sink. While the broker is unreachable, writes fail at once so the
 * records stay in the outbox, never in mqtt.js's unbounded memory queue.
 */
export class MqttSink implements Sink {
  #client: mqtt.MqttClient | null = null;

  constructor(readonly config: MqttSinkConfig, readonly ctx: SinkContext) {}

  async connect(): Promise<void> {
    this.#client = await connectBroker(this.config, this.ctx);
  }

  async write(batch: Envelope[]): Promise<void> {
    const messages = encodeMessages(batch, {
      topic: this.config.topic,
      gatewayId: this.ctx.gatewayId,
    })
      .map((m) => ({ ...m, retain: this.config.retain }));
    await publishAll(this.#client, messages, this.config);
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    await closeBroker(client);
  }
}

/** The `mqtt` sink kind. */
export const mqttSink = defineSink({
  type: "mqtt",
  schema: mqttSinkSchema,
  create: (config, ctx) => new MqttSink(config, ctx),
});
