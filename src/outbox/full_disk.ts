/**
 * The outbox's full-disk state, in one place: it starts when a commit finds no room (or an I/O
 * error), is shown as `full` in /status (errors.ts), and ends when a commit goes again. While it
 * lasts, one hand-over per commit probes whether the disk has room again and the others are
 * refused at once, so the other commits meanwhile hold deliveries and deletions, which free room.
 * The reserve's room (reserve.ts) goes to commits of deliveries and deletions, and to new records
 * only once nothing is left to deliver: given to new records first, it would be filled again by
 * them and the deletions that free the disk for good would find no room.
 */
import type { DatabaseSync } from "node:sqlite";
import { type ComponentStatus, errorMessage } from "../status.ts";
import { ioReason, OutboxFullError, showRefusal } from "./errors.ts";
import { DiskReserve } from "./reserve.ts";

/** What the full-disk state asks of the outbox. */
export interface FullDiskOptions {
  /** The outbox file: the reserve is `<path>.reserve` beside it. */
  path: string;
  /** The outbox's bound (the reserve is an eighth of it). */
  maxBytes: number;
  /** Grouped commits: a full disk shows at the commit, so the state ends only there. */
  grouped?: boolean;
  /** The outbox's open database (a new one after a salvage). */
  db: () => DatabaseSync;
  /** Bytes of records still to deliver (after a failed commit's rollback, recounted). */
  held: () => number;
  /** The outbox's time (the refusal's `since`; default: the system's). */
  now?: () => number;
}

/** Whether a full disk's reserve may go to a commit of `records` new records (and deliveries). */
export function reserveMayGo(records: number, heldBytes: number): boolean {
  return records === 0 || heldBytes === 0;
}

/** The outbox's full-disk state: what commits and hand-overs do while the disk has no room. */
export class FullDisk {
  /** Room kept aside so that a disk the gateway filled itself can be recovered from. */
  readonly reserve: DiskReserve;
  /** Whether the next hand-over may probe a full disk (one per commit). */
  #probe = true;

  constructor(readonly status: ComponentStatus, readonly options: FullDiskOptions) {
    this.reserve = new DiskReserve(`${options.path}.reserve`, options.maxBytes);
  }

  /** The reason of the outbox's refusal now (`disk_full`, `io_error`, `buffer_full`), if any. */
  get #reason(): string | undefined {
    return (this.status.info.full as { reason?: string } | undefined)?.reason;
  }

  /**
   * Runs `open` (of the outbox file); when it fails for want of room rather than a damaged file,
   * the reserve is given back and `open` run again (reserve.ts).
   */
  opening<T>(open: () => T): T {
    return this.reserve.opening(open);
  }

  /**
   * Takes the reserve if it is not in place and there is room: after opening, and after rows
   * were deleted (a full disk gave it back; tried at most every 10 s).
   */
  keepReserve(): void {
    this.reserve.keep();
  }

  /**
   * Null when new records may go into the group now, else the reason they are refused: after a
   * commit the disk refused, the first hand-over since the last commit probes, the others wait.
   */
  refusing(): string | null {
    const reason = this.#reason;
    if (!this.options.grouped || !reason || reason === "buffer_full") return null;
    if (!this.#probe) return reason;
    this.#probe = false;
    return null;
  }

  /** A commit is tried: the next hand-over may probe again (whether it goes or not). */
  committing(): void {
    this.#probe = true;
  }

  /** A commit went: there is room again, the full state (set by a failed commit or append) ends. */
  committed(): void {
    const status = this.status;
    if (!status.info.full) return;
    delete status.info.full;
    status.state = "up";
  }

  /**
   * Records were taken: a refusal ends, except a full disk's in a grouped outbox, which only a
   * commit that goes ends (an append into the open transaction proves no room on the disk).
   */
  taken(): void {
    const reason = this.#reason;
    if (reason && this.options.grouped && reason !== "buffer_full") return;
    this.status.state = "up";
    delete this.status.info.full;
  }

  /**
   * A commit of `records` new records failed with `e` and was rolled back: the WAL is emptied
   * into the file, the state shown, and on a full disk the reserve given back when it may go.
   */
  commitRefused(e: unknown, records: number): void {
    const reason = ioReason(e);
    const status = this.status;
    const db = this.options.db();
    try {
      // The WAL's pages already in the file are room: a checkpoint gives it back.
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch { /* nothing more to give */ }
    status.fail(e, records);
    // A state, not a deadlock: /status and /health say so; senders that wait are refused and
    // hold (MQTT ack: commit), and the reserve's room lets the next commit go.
    showRefusal(status, reason, { records, at: this.options.now?.() ?? Date.now() });
    if (reason === "disk_full" && reserveMayGo(records, this.options.held())) {
      this.reserve.recover(db);
    }
  }

  /**
   * A hand-over of `records` new records is refused for `reason` (the disk's: full, an I/O error,
   * or a probe pending): the state is shown (since `at`) and {@link OutboxFullError} thrown.
   */
  refuse(e: unknown, o: { records: number; reason: string; at: number }): never {
    this.status.fail(e, o.records);
    showRefusal(this.status, o.reason, { records: o.records, at: o.at });
    const message = `outbox could not store ${o.records} records: ${errorMessage(e)}`;
    throw new OutboxFullError(message, o.reason);
  }

  /**
   * A delivery could not be recorded (its cursor moved, delivered rows deleted) for `e`: true
   * when the disk was full of the outbox's own WAL and the reserve gave room, so it may be tried
   * again at once.
   */
  mayRetryDelivery(e: unknown): boolean {
    return ioReason(e) === "disk_full" && this.reserve.recover(this.options.db());
  }
}
