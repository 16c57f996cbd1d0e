/** How the outbox says it could not store records. */
import { type ComponentStatus, errorMessage } from "../status.ts";

/** The outbox refused records: it is full with `on_full: reject_new`, or the disk failed. */
export class OutboxFullError extends Error {
  constructor(message: string, readonly reason: string) {
    super(message);
    this.name = "OutboxFullError";
  }
}

/** The drop reason of a failed write: the disk is full, or another I/O error. */
export function ioReason(e: unknown): string {
  return /full/i.test(errorMessage(e)) ? "disk_full" : "io_error";
}

/**
 * The outbox refused records: a state (`full` in /status, with the reason and since when) until
 * an append succeeds again, not a loss: the caller holds them (an MQTT source keeps its PUBACKs
 * back), answers 503 (/ingest), or drops and counts them on itself. Counted `refused_<reason>`.
 */
export function showRefusal(
  status: ComponentStatus,
  reason: string,
  options: { records: number; at: number },
): void {
  status.count(`refused_${reason}`, options.records);
  const full = status.info.full as { since?: string } | undefined;
  status.info.full = { reason, since: full?.since ?? new Date(options.at).toISOString() };
  // Disk full or I/O errors: nothing can be stored, /health answers 503 until an append succeeds.
  status.state = reason === "buffer_full" ? "degraded" : "down";
}
