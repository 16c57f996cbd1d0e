import mqtt from "mqtt";
import type { Envelope } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { defineSink, RetryableError, type Sink, type SinkContext } from "../sink.ts";
import { connectBroker } from "../../mqtt/broker.ts";
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
    const client = this.#client;
    if (!client?.connected) {
      throw new RetryableError(`MQTT broker ${this.config.url} is not connected`);
    }
    const messages = encodeMessages(batch, {
      topic: this.config.topic,
      gatewayId: this.ctx.gatewayId,
    });
    try {
      await Promise.all(messages.map((m) =>
        client.publishAsync(m.topic, m.payload, {
          qos: this.config.qos,
          retain: this.config.retain,
        })
      ));
    } catch (e) {
      throw new RetryableError(`MQTT publish to ${this.config.url} failed: ${errorMessage(e)}`);
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    if (client) await client.endAsync(true).catch(() => {});
  }
}

/** The `mqtt` sink kind. */
export const mqttSink = defineSink({
  type: "mqtt",
  schema: mqttSinkSchema,
  create: (config, ctx) => new MqttSink(config, ctx),
});
