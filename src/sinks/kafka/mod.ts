/**
 * Kafka sink: DataLake's events on DataLake's topics (`datalake.sensorDataAnomalyDetected`
 * at once, `datalake.sensorDataSaved` per period that saved data), anything else on
 * topics from templates; keyed by node so a device's records stay in order on one
 * partition; `acks: all`; through the outbox like every sink.
 */
import type { Kafka, Message, Producer } from "kafkajs";
import { z } from "zod";
import type { Envelope } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { RejectedError, RetryableError } from "../../errors.ts";
import { tlsFields, tlsOptions } from "../../tls.ts";

/** Config of the Kafka sink. */
export const kafkaSchema = z.strictObject({
  type: z.literal("kafka"),
  ...deliveryFields,
  forward: deliveryFields.forward.default(["event"]),
  /** `host:port` of one or more brokers. */
  brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, "host:port")).min(1),
  client_id: z.string().optional(),
  /**
   * Topics: by event type (DataLake's names by default), and `{kind}`/`{type}`/`{gateway}`
   * templates for the rest.
   */
  topics: z.strictObject({
    anomaly: z.string().default("datalake.sensorDataAnomalyDetected"),
    data_saved: z.string().default("datalake.sensorDataSaved"),
    events: z.string().default("edge-gateway.events.{type}"),
    records: z.string().default("edge-gateway.{kind}"),
  }).prefault({}),
  compression: z.enum(["none", "gzip"]).default("gzip"),
  /**
   * kafkajs' idempotent producer: the brokers drop a retried batch they already have. It needs
   * the cluster's controller in the metadata (librdkafka's mock cluster has none: false there).
   * Either way acks all and one request in flight keep a device's records in order.
   */
  idempotent: z.boolean().default(true),
  sasl: z.strictObject({
    mechanism: z.enum(["plain", "scram-sha-256", "scram-sha-512"]),
    username: z.string(),
    password: z.string(),
  }).optional(),
  tls: z.boolean().default(false),
  ...tlsFields,
});

/** Parsed Kafka sink config. */
export type KafkaConfig = z.output<typeof kafkaSchema>;

/** The topic and message of a record: key = node, value = the event as DataLake shapes it. */
export function kafkaMessage(
  e: Envelope,
  options: { config: KafkaConfig; gatewayId: string },
): { topic: string; message: Message } {
  const t = options.config.topics;
  const fill = (template: string, vars: Record<string, string>) =>
    template.replace(/\{(\w+)\}/g, (m, k) => vars[k] ?? m);
  if (e.kind === "event") {
    const ev = e.data;
    const topic = ev.type === "anomaly"
      ? t.anomaly
      : ev.type === "data_saved"
      ? t.data_saved
      : fill(t.events, { type: ev.type, gateway: options.gatewayId });
    return {
      topic,
      message: {
        key: ev.node ?? options.gatewayId,
        value: JSON.stringify({ type: ev.type, gateway: options.gatewayId, ...ev.data }),
      },
    };
  }
  const node = "node" in e.data ? String(e.data.node) : options.gatewayId;
  return {
    topic: fill(t.records, { kind: e.kind, gateway: options.gatewayId }),
    message: {
      key: node,
      value: JSON.stringify({ kind: e.kind, gateway: options.gatewayId, ...e.data }),
    },
  };
}

// Errors kafkajs marks as not retriable about the request itself: retrying cannot help.
const REFUSED = new Set([
  "INVALID_TOPIC_EXCEPTION",
  "MESSAGE_TOO_LARGE",
  "RECORD_LIST_TOO_LARGE",
  "INVALID_RECORD",
  "TOPIC_AUTHORIZATION_FAILED",
]);

/** Produces records to Kafka; resolves when the brokers acknowledged them (acks: all). */
export class KafkaSink implements Sink {
  #kafka: Kafka | null = null;
  #producer: Producer | null = null;
  /** kafkajs' codec id of the configured compression (set at connect). */
  #compression = 0;

  constructor(readonly config: KafkaConfig, readonly ctx: SinkContext) {}

  async connect(): Promise<void> {
    const c = this.config;
    if (!this.#kafka) {
      // Loaded when a Kafka sink is configured.
      const { Kafka, logLevel, CompressionTypes } = await import("kafkajs");
      this.#compression = c.compression === "gzip" ? CompressionTypes.GZIP : CompressionTypes.None;
      this.#kafka = new Kafka({
        clientId: c.client_id ?? `edge-gateway-${this.ctx.gatewayId}`,
        brokers: c.brokers,
        connectionTimeout: c.timeout,
        requestTimeout: c.timeout,
        // The outbox owns retries (and logs failures once, with context).
        retry: { retries: 0 },
        logLevel: logLevel.NOTHING,
        ssl: c.tls ? tlsOptions(c) : undefined,
        sasl: c.sasl as never,
      });
    }
    if (this.#producer) return;
    const producer = this.#kafka.producer({
      idempotent: c.idempotent,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
    });
    try {
      await producer.connect();
    } catch (e) {
      throw new RetryableError(`Kafka ${c.brokers.join(",")} unreachable: ${errorMessage(e)}`);
    }
    this.#producer = producer;
  }

  async write(batch: Envelope[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const e of batch) {
      const { topic, message } = kafkaMessage(e, {
        config: this.config,
        gatewayId: this.ctx.gatewayId,
      });
      const list = byTopic.get(topic) ?? [];
      list.push(message);
      byTopic.set(topic, list);
    }
    if (!this.#producer) await this.connect();
    try {
      await this.#producer!.sendBatch({
        acks: -1,
        timeout: this.config.timeout,
        compression: this.#compression,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (e) {
      const type = (e as { type?: string }).type ?? "";
      const msg = `Kafka ${this.config.brokers.join(",")}: ${errorMessage(e)}`;
      if (REFUSED.has(type)) throw new RejectedError(msg);
      // A broken connection: the next attempt connects again.
      await this.#producer?.disconnect().catch(() => {});
      this.#producer = null;
      throw new RetryableError(msg);
    }
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = null;
    await producer?.disconnect().catch(() => {});
  }
}

/** The `kafka` sink kind. */
export const kafkaSink = defineSink({
  type: "kafka",
  schema: kafkaSchema,
  create: (config, ctx) => new KafkaSink(config, ctx),
});
