import { z } from "zod";
import { duration, size } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Envelope, EnvelopeKind } from "../model.ts";
import type { ComponentStatus } from "../status.ts";
import type { Clock } from "../util/clock.ts";

/** A failure worth retrying later: network, 5xx, 429, timeouts. */
export class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
    this.name = "RetryableError";
  }
}

/** The upstream refused the payload itself (4xx): retrying cannot help; dead-letter it. */
export class RejectedError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "RejectedError";
  }
}

/** The batch is too large for the upstream (413): split it and try again. */
export class TooLargeError extends RejectedError {
  constructor(message: string) {
    super(message, 413);
    this.name = "TooLargeError";
  }
}

/** An upstream hop. The outbox owns batching, retries and acknowledgement. */
export interface Sink {
  /** Opens the connection (omitted by sinks with nothing to open, e.g. one request per write). */
  connect?(): Promise<void>;
  /** Delivers a batch; resolves only when the upstream acknowledged all of it. */
  write(batch: Envelope[]): Promise<void>;
  close?(): Promise<void>;
}

/** What the agent gives each sink. */
export interface SinkContext {
  name: string;
  /** The gateway id, tagged on every record so a fleet can share one database. */
  gatewayId: string;
  log: Logger;
  status: ComponentStatus;
  /** The time, as the sources read it (records carry its stamps). */
  clock: Clock;
}

/** Config fields every sink shares: what it forwards and how the outbox delivers to it. */
export const deliveryFields = {
  /** What this sink receives from the outbox. */
  forward: z.array(z.enum(["sample", "window", "event", "entry", "file"])).min(1).default([
    "sample",
  ]),
  /** Only nodes matching one of these globs (`mppt*`); all when empty. */
  nodes: z.array(z.string()).default([]),
  /** Only fields matching one of these globs; all when empty. */
  fields: z.array(z.string()).default([]),
  batch_size: z.number().int().min(1).max(100_000).default(1000),
  /** A batch stops growing past this many bytes (the first record always goes). */
  batch_bytes: size.default(8 * 1024 * 1024),
  max_wait: duration.default(1000),
  backoff_min: duration.default(500),
  backoff_max: duration.default(60_000),
  /** Per-attempt timeout for one write. */
  timeout: duration.default(10_000),
};

/** The delivery settings as parsed. */
export interface DeliveryConfig {
  forward: EnvelopeKind[];
  nodes: string[];
  fields: string[];
  batch_size: number;
  batch_bytes: number;
  max_wait: number;
  backoff_min: number;
  backoff_max: number;
  timeout: number;
}

/** A kind of sink: its config schema and its factory. */
export interface SinkPlugin<S extends z.ZodType = z.ZodType> {
  type: string;
  schema: S;
  create(config: z.output<S>, ctx: SinkContext): Sink;
}

/** Identity helper that keeps a plugin's config type tied to its schema. */
export function defineSink<S extends z.ZodType>(plugin: SinkPlugin<S>): SinkPlugin<S> {
  return plugin;
}
