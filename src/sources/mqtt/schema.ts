import { z } from "zod";
import { duration, size } from "../../config_values.ts";
import { brokerFields } from "../../mqtt/broker.ts";
import { policiesSchema } from "../../policies/schema.ts";
import { timeFields } from "../../sample_time.ts";

/** Config of the MQTT subscriber source. */
export const mqttSourceSchema = z.strictObject({
  type: z.literal("mqtt"),
  ...brokerFields,
  timeout: duration.default(10_000),
  /**
   * Hold the broker connection in a Worker: mqtt.js parses packets off the thread that
   * stores (a second core at work). Same acknowledgements and order; about 10 MiB more.
   */
  worker: z.boolean().default(false),
  /**
   * Spread the subscriptions over N broker connections, each in a Worker of its own, as one
   * MQTT shared subscription (`$share/<group>/<filter>`): the broker gives each message to one
   * of them. Messages of one node may then arrive out of their publishing order.
   */
  connections: z.number().int().min(1).max(16).default(1),
  /** Topic filters, wildcards allowed: `pepeunit/+/pepeunit`. */
  topics: z.array(z.string().min(1)).min(1),
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
  /** Which `+` of the matching filter is the node id (1 = the first); the whole topic without `+`. */
  node_segment: z.number().int().min(1).default(1),
  /** Larger payloads are dropped (reason over_max_size). */
  max_size: size.default(256 * 1024),
  /**
   * `commit`: acknowledge QoS 1 messages only once the outbox holds them (a crash means a
   * redelivery, never a loss; one commit covers every message that arrived meanwhile).
   * `receipt`: acknowledge on arrival (a crash may lose the batch being committed).
   */
  ack: z.enum(["commit", "receipt"]).default("receipt"),
  /** Most messages handed to the pipeline in one commit. */
  batch: z.number().int().min(1).max(10_000).default(2000),
  /** Longest a message waits for its batch (ack: receipt; commit mode goes at once). */
  max_wait: duration.default(50),
  /**
   * Memory of the messages waiting for the pipeline at most (see {@link pendingCost}); beyond,
   * reading pauses (TCP back-pressure).
   */
  max_pending: size.default(16 * 1024 * 1024),
  ...timeFields,
  /**
   * Follow the broker's own count of messages it dropped (mosquitto's
   * `$SYS/broker/publish/messages/dropped`: queue and in-flight limits), shown
   * as `broker_dropped` in /status. Brokers without it, or ACLs refusing it, show nothing.
   */
  broker_drops: z.boolean().default(true),
  /**
   * Nodes whose figures are kept in memory; beyond, the least recently heard is forgotten
   * (counted `nodes_evicted`). Policy buffers of forgotten nodes stay on disk.
   */
  max_nodes: z.number().int().min(1).max(1_000_000).default(10_000),
  /**
   * Per-node storage policies (pepeunit's documents): values of a node with a
   * policy become rows for ClickHouse (and files for S3) instead of samples.
   */
  policies: policiesSchema.optional(),
}).refine((c) => c.ack !== "commit" || c.qos === 1, {
  path: ["ack"],
  message: "ack: commit needs qos: 1 (QoS 0 messages are never acknowledged, so there is " +
    "nothing to hold back until the commit); use ack: receipt with qos: 0",
});

/** Parsed MQTT source config. */
export type MqttSourceConfig = z.output<typeof mqttSourceSchema>;

/**
 * What a message waiting for the pipeline holds: its topic and payload, and ~256 B of heap for its
 * sample, fields, tags and queue entry (~340 B measured for a 1-byte payload). `max_pending`
 * counted payload bytes alone, so a flood of tiny messages queued 100,000 per source (~34 MiB).
 */
export function pendingCost(topic: string, payload: Uint8Array): number {
  return 256 + topic.length + payload.length;
}
