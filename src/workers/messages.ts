/**
 * The message contract between a sink's proxy on the main thread
 * ({@link WorkerSink}) and the Worker that runs the sink (`sink_main.ts`).
 * Calls are numbered; every answer carries the sink's status figures, which
 * the proxy copies into the component's status.
 */
import type { Envelope } from "../model.ts";
import type { LogLevel } from "../log.ts";
import type { LogShare } from "../outbox/cursors.ts";
import type { Delivered, LogPlace, RawRecord } from "../plugin.ts";

/** The outbox file and a sink's share of it, read by the sink's Worker. */
export type SinkLog = LogShare & { path: string };

/** What the main thread asks of the Worker. */
export type SinkCall =
  | {
    op: "init";
    type: string;
    name: string;
    gatewayId: string;
    config: unknown;
    /** The outbox file and the sink's share of it, for `deliver`. */
    log?: SinkLog;
  }
  /** Read the next records after `after` from the log and write them. */
  | LogPlace & { op: "deliver"; id: number; kinds: Record<string, string> }
  | { op: "connect"; id: number }
  | { op: "write"; id: number; batch: Envelope[]; kinds: Record<string, string> }
  | {
    op: "writeRaw";
    id: number;
    batch: RawRecord[];
    kinds: Record<string, string>;
  }
  | { op: "close"; id: number };

/** How a call failed, so the proxy throws the same class the sink threw. */
export interface FailedCall {
  kind: "retryable" | "rejected" | "too_large" | "other";
  message: string;
  retryAfterMs?: number;
  status?: number;
}

/** The sink's own figures (its counters and status info), sent with every answer. */
export interface SinkFigures {
  counters: Record<string, number>;
  info: Record<string, unknown>;
}

/** What the Worker sends back. */
export type SinkAnswer =
  | {
    op: "done";
    id: number;
    figures: SinkFigures;
    /** For `deliver`: how many records were written, and the last one's id. */
    delivered?: Delivered;
  }
  | { op: "failed"; id: number; error: FailedCall; figures: SinkFigures }
  | { op: "log"; level: LogLevel; msg: string; fields?: Record<string, unknown> };
