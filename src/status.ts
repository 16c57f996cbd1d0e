import { redact } from "./secrets.ts";

/**
 * Lifecycle state of a pipeline component as shown on /health and /status; `stale`: running,
 * but its device sent nothing for a while (a silent VE.Direct device on an open port).
 */
export type ComponentState = "starting" | "up" | "degraded" | "stale" | "down" | "stopped";

/** A component's status as /status shows it (and the page and /metrics read it). */
export interface ComponentJson {
  name: string;
  kind: string;
  state: string;
  processed: number;
  failed: number;
  counters: Record<string, number>;
  dropped: Record<string, number>;
  last_success: string | null;
  last_error: { at: string; message: string } | null;
  last_record_at?: string | null;
  /** A device source's judgement of its device: no frame within `stale_after_ms`. */
  stale?: boolean;
  stale_after_ms?: number;
  port?: string;
  node?: string;
  paused?: boolean;
  connected?: boolean;
  device?: {
    product?: string;
    serial?: string;
    values?: Record<string, unknown>;
    units?: Record<string, string>;
  };
  queue?: { records: number; bytes: number; oldest_age_ms: number | null };
  /** MQTT sources: how many nodes are tracked, and the busiest nodes' figures. */
  nodes_tracked?: number;
  nodes?: Record<
    string,
    { messages: number; bytes: number; stored_bytes?: number; dropped: Record<string, number> }
  >;
  /** The HTTP front: connections open now. */
  connections?: number;
  /** The outbox, while it refuses records: why (`buffer_full`, `disk_full`, `io_error`), since when. */
  full?: { reason: string; since: string };
  /** A source whose hand-over the outbox refused: what waits, tried again until taken. */
  held?: { items: number; since: string; attempts: number; error: string };
  /** Further live details a plugin shows (its info). */
  [key: string]: unknown;
  /** MQTT sources: messages waiting for the pipeline, within `max_pending` (`max_bytes`). */
  pending?: { messages: number; bytes: number; max_bytes?: number };
  /** MQTT sources with image policies: frames waiting on disk. */
  timelapse?: { ffmpeg: string; frames: number; bytes: number; max_bytes: number };
}

/** Counters and state of one source, sink or store: what /status, /metrics and logs read. */
export class ComponentStatus {
  state: ComponentState = "starting";
  processed = 0;
  failed = 0;
  lastSuccess: number | null = null;
  lastError: { at: number; message: string } | null = null;
  /** Named counters specific to the component (checksum_errors, retried, ...). */
  readonly counters: Record<string, number> = {};
  /** Records dropped, by reason. */
  readonly dropped: Record<string, number> = {};
  /** Free-form live details (devices, queue depth, ...). */
  info: Record<string, unknown> = {};

  constructor(readonly name: string, readonly kind: string, readonly required = false) {}

  /** Counts `n` items handled successfully. */
  ok(n = 1): void {
    this.processed += n;
    this.lastSuccess = Date.now();
  }

  /** Counts a failure and remembers its message. */
  fail(error: unknown, n = 1): void {
    this.failed += n;
    // Clients echo URLs (with their passwords) in errors: masked before anyone reads them.
    this.lastError = { at: Date.now(), message: redact(errorMessage(error)) };
  }

  /** Adds to a named counter. */
  count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  /** Counts records dropped for a reason. */
  drop(reason: string, n = 1): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
  }

  /** Plain object for JSON responses (with the component's live details). */
  toJSON(): ComponentJson {
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      processed: this.processed,
      failed: this.failed,
      last_success: this.lastSuccess ? new Date(this.lastSuccess).toISOString() : null,
      last_error: this.lastError
        ? { at: new Date(this.lastError.at).toISOString(), message: this.lastError.message }
        : null,
      counters: this.counters,
      dropped: this.dropped,
      ...this.info,
    } as ComponentJson;
  }
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch says only "fetch failed"; the reason (refused, untrusted certificate) is its cause.
  const cause = error.cause instanceof Error ? error.cause.message : "";
  return cause && !error.message.includes(cause) ? `${error.message}: ${cause}` : error.message;
}
