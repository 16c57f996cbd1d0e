/**
 * Room kept aside on the data dir's file system, so that a disk the gateway filled itself can be
 * recovered from. SQLite needs free space to free space: deleting delivered rows writes to the
 * WAL, and emptying the WAL (a checkpoint) grows the database file. On a full disk neither can
 * happen, and the outbox would stay full for good even with every record delivered. Giving the
 * reserve's bytes back lets one checkpoint through, which empties the WAL (usually far more room
 * than the reserve); the reserve is taken again once there is room for it.
 */
import type { DatabaseSync } from "node:sqlite";
import { DamagedFileError } from "../util/sqlite.ts";

/** The most the reserve takes (a WAL is checkpointed at ~4 MiB: its pages then fit). */
const RESERVE_MAX_BYTES = 4 * 1024 * 1024;

/** How often a missing reserve is tried again (writing it on a full disk costs a failed write). */
const RETRY_MS = 10_000;

/** A file of zeros in the data dir, given back when the disk is full. */
export class DiskReserve {
  #held = false;
  #lastTry = -Infinity;
  #recovered = -Infinity;

  /** Bytes kept aside: an eighth of the outbox's bound, at most 4 MiB. */
  readonly bytes: number;

  constructor(readonly path: string, outboxBytes: number) {
    this.bytes = Math.min(RESERVE_MAX_BYTES, Math.floor(outboxBytes / 8));
  }

  /** Whether the reserve is in place now. */
  get held(): boolean {
    return this.#held;
  }

  /** Takes the reserve if it is not in place and there is room (tried at most every 10 s). */
  keep(now: number = performance.now()): void {
    if (this.#held || this.bytes <= 0 || now - this.#lastTry < RETRY_MS) return;
    this.#lastTry = now;
    try {
      const size = Deno.statSync(this.path).size;
      if (size === this.bytes) return void (this.#held = true);
    } catch { /* not there yet */ }
    try {
      // Written, not truncated to size: a sparse file holds no room.
      Deno.writeFileSync(this.path, new Uint8Array(this.bytes));
      this.#held = true;
    } catch {
      this.#remove(); // no room for it: what was written goes, tried again later
    }
  }

  /**
   * The disk is full: gives the reserve back and empties the WAL of `db` into its file, so that
   * the write that failed can be tried again. False when there was no reserve to give.
   */
  recover(db: DatabaseSync): boolean {
    // Once a second at most: a write that fails again right after is not helped by another go.
    const now = performance.now();
    if (!this.#held || now - this.#recovered < 1000) return false;
    this.#recovered = now;
    this.#remove();
    try {
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch { /* the retried write says whether it helped */ }
    this.#lastTry = now; // taken again later, once the retried write had its room
    return true;
  }

  /**
   * Runs `open` (of the database); when it fails for want of room (a full disk: its WAL and
   * index need some) rather than a damaged file, gives the reserve back and runs it again.
   */
  opening<T>(open: () => T): T {
    try {
      return open();
    } catch (e) {
      if (e instanceof DamagedFileError || !this.#remove()) throw e;
      return open();
    }
  }

  /** Removes the file; true when there was one. */
  #remove(): boolean {
    this.#held = false;
    try {
      Deno.removeSync(this.path);
      return true;
    } catch {
      return false; // not there
    }
  }
}
