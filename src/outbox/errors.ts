/** How the outbox says it could not store records. */
import { errorMessage } from "../status.ts";

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
