/** Lifecycle state of a pipeline component as shown on /health and /status. */
export type ComponentState = "starting" | "up" | "degraded" | "down" | "stopped";

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
    this.lastError = { at: Date.now(), message: errorMessage(error) };
  }

  /** Adds to a named counter. */
  count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  /** Counts records dropped for a reason. */
  drop(reason: string, n = 1): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
  }

  /** Plain object for JSON responses. */
  toJSON(): Record<string, unknown> {
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
    };
  }
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
