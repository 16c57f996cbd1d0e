import type { z } from "zod";
import type { Logger } from "../log.ts";
import type { Envelope, Sample } from "../model.ts";
import type { ComponentStatus } from "../status.ts";
import type { Clock } from "../util/clock.ts";

/** What the agent gives each source: where to push samples, how to log and count. */
export interface SourceContext {
  /** The source's config key. */
  name: string;
  /** The gateway id (unique per gateway, e.g. for MQTT client ids). */
  gatewayId: string;
  /**
   * Hands samples to the pipeline. The promise resolves once they are durably
   * accepted (local store and outbox); awaiting it is the backpressure path.
   * `receipts` ([id, digest] pairs) are committed with them: see {@link receipt}.
   */
  emit(samples: Sample[], options?: { receipts?: [string, string][] }): Promise<void>;
  /** The digest this source's receipt `id` holds, committed by an earlier emit. */
  receipt(id: string): string | undefined;
  /**
   * Appends records that are not samples (policy rows, files) to the outbox in
   * one durable commit; throws when the outbox cannot take them.
   */
  append(envelopes: Envelope[]): void;
  /** The gateway's data directory, for a source's own state files. */
  dataDir: string;
  /** The time: read it here, never from `Date.now()`, so tests can move it. */
  clock: Clock;
  /**
   * The timestamp of a sample of `node` made at `at` (default: now), unique within
   * the node's series: samples arriving in one millisecond get microsecond steps.
   */
  stamp(node: string, at?: number): number;
  log: Logger;
  status: ComponentStatus;
}

/** A running source. `start` returns once the source is running; `stop` ends it. */
export interface Source {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Applies a changed config in place when it can (true), else the agent restarts the source. */
  update?(config: unknown): boolean;
}

/** A kind of source: its config schema and its factory. */
export interface SourcePlugin<S extends z.ZodType = z.ZodType> {
  type: string;
  /** Whether /health reports 503 when this source is down. */
  required?: boolean;
  schema: S;
  create(config: z.output<S>, ctx: SourceContext): Source;
}

/** Identity helper that keeps a plugin's config type tied to its schema. */
export function defineSource<S extends z.ZodType>(plugin: SourcePlugin<S>): SourcePlugin<S> {
  return plugin;
}
