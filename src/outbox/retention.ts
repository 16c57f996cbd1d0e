/**
 * Which records leave the outbox log, and why: rows every sink's cursor has
 * passed (delivered), rows older than `max_age` (`expired`), and the oldest rows
 * when room is needed (`buffer_full`, `disk_full`). Records dropped before a
 * sink sent them are counted on that sink, with the reason.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Logger } from "../log.ts";
import type { SinkCursor } from "./cursors.ts";

/** What retention works on. */
export interface RetentionOptions {
  /** The sinks' cursors, by sink name (the outbox's own map). */
  cursors: Map<string, SinkCursor>;
  /** Records older than this are dropped; 0 = kept until delivered. */
  maxAgeMs: number;
  now: () => number;
  /** Told how many bytes of records were deleted. */
  freed: (bytes: number) => void;
  log: Logger;
}

/** Deletes records from the log: delivered, expired, or the oldest for room. */
export class Retention {
  constructor(readonly db: DatabaseSync, readonly options: RetentionOptions) {}

  /** Removes rows every sink has passed, and rows older than max_age. */
  compact(): void {
    const db = this.db;
    const min = db.prepare("SELECT MIN(last_id) AS m FROM cursors").get()?.m;
    if (min !== null && min !== undefined && Number(min) > 0) {
      const first = db.prepare("SELECT MIN(id) AS m FROM records").get()?.m;
      if (first !== null && first !== undefined && Number(first) <= Number(min)) {
        this.#deleteUpTo(Number(min));
      }
    }
    if (this.options.maxAgeMs > 0) {
      // Rows are appended in time order: walk from the oldest and stop at the first young one.
      const cutoff = this.options.now() - this.options.maxAgeMs;
      let old = 0;
      for (const row of db.prepare("SELECT id, created FROM records ORDER BY id").iterate()) {
        if (Number(row.created) >= cutoff) break;
        old = Number(row.id);
      }
      if (old > 0) this.#dropUpTo(old, "expired");
    }
  }

  /** Drops the oldest rows until `need` bytes are free, counting drops per sink that had not sent them. */
  dropOldest(need: number, reason: string): void {
    let freed = 0;
    let upTo = 0;
    for (const row of this.db.prepare("SELECT id, bytes FROM records ORDER BY id").iterate()) {
      freed += Number(row.bytes);
      upTo = Number(row.id);
      if (freed >= need) break;
    }
    if (upTo > 0) this.#dropUpTo(upTo, reason);
  }

  #dropUpTo(upTo: number, reason: string): void {
    for (const [sink, cursor] of this.options.cursors) {
      const lost = cursor.moveTo(upTo);
      if (lost > 0) {
        cursor.status.drop(reason, lost);
        this.options.log.warn("outbox dropped undelivered records", {
          sink,
          reason,
          records: lost,
        });
      }
    }
    this.#deleteUpTo(upTo);
  }

  #deleteUpTo(id: number): void {
    const freed = this.db.prepare("SELECT COALESCE(SUM(bytes), 0) AS b FROM records WHERE id <= ?")
      .get(id)?.b;
    this.db.prepare("DELETE FROM records WHERE id <= ?").run(id);
    this.options.freed(Number(freed));
  }
}
