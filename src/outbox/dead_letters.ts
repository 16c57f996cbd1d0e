/**
 * Records an upstream refused (4xx), kept with the server's message so an
 * operator can see why, fix the cause and replay them. Bounded in bytes: they
 * count inside the outbox's bound, and beyond their own limit the oldest go
 * first (counted per sink as `dead_letters_dropped`).
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { LogRow } from "./cursors.ts";
import { transaction } from "../util/sqlite.ts";

/** One dead letter as listed by the API. */
export interface DeadLetter {
  id: number;
  sink: string;
  record_id: number;
  kind: string;
  error: string;
  /** When it was refused (ISO 8601). */
  at: string;
  data?: unknown;
}

/** The dead-letter table of one outbox file. */
export class DeadLetters {
  #bytes = 0;
  readonly #put: StatementSync;

  constructor(
    readonly db: DatabaseSync,
    readonly options: { maxBytes: number; dropped(sink: string, n: number): void },
  ) {
    const columns = db.prepare("PRAGMA table_info(dead_letters)").all().map((c) => String(c.name));
    if (!columns.includes("bytes")) {
      db.exec("ALTER TABLE dead_letters ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0");
      db.exec("UPDATE dead_letters SET bytes = length(payload) + length(error) + 64");
    }
    this.#put = db.prepare(
      "INSERT INTO dead_letters (sink, record_id, kind, payload, error, at, bytes) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.recount();
  }

  /**
   * Counts the bytes from the table (at start, and after a rollback or a skipped commit): the
   * same object stays, so a replay in flight that holds it removes from the right count.
   */
  recount(): void {
    this.#bytes = Number(
      this.db.prepare("SELECT COALESCE(SUM(bytes), 0) AS b FROM dead_letters").get()?.b ?? 0,
    );
  }

  /** Bytes the dead letters take. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps refused records with the server's message; the oldest go beyond the bound. */
  add(sink: string, rows: LogRow[], error: string, at: number): void {
    let added = 0;
    transaction(this.db, () => {
      for (const r of rows) {
        const bytes = r.payload.length + error.length + 64;
        this.#put.run(sink, r.id, r.kind, r.payload, error, at, bytes);
        added += bytes;
      }
    });
    this.#bytes += added;
    if (this.#bytes > this.options.maxBytes) this.dropOldest(this.#bytes - this.options.maxBytes);
  }

  /** Deletes the oldest dead letters until `need` bytes are free; returns the bytes freed. */
  dropOldest(need: number): number {
    let freed = 0;
    let upTo = 0;
    const bySink = new Map<string, number>();
    for (
      const r of this.db.prepare("SELECT id, sink, bytes FROM dead_letters ORDER BY id").iterate()
    ) {
      freed += Number(r.bytes);
      upTo = Number(r.id);
      bySink.set(String(r.sink), (bySink.get(String(r.sink)) ?? 0) + 1);
      if (freed >= need) break;
    }
    if (upTo === 0) return 0;
    this.db.prepare("DELETE FROM dead_letters WHERE id <= ?").run(upTo);
    this.#bytes -= freed;
    for (const [sink, n] of bySink) this.options.dropped(sink, n);
    return freed;
  }

  /** Dead letters, newest first (of one sink, or all), with their records when asked. */
  list(options: { sink?: string; limit: number; data?: boolean }): DeadLetter[] {
    const where = options.sink ? "WHERE sink = ?" : "";
    const args = options.sink ? [options.sink, options.limit] : [options.limit];
    const rows = this.db.prepare(
      `SELECT id, sink, record_id, kind, error, at${options.data ? ", payload" : ""} ` +
        `FROM dead_letters ${where} ORDER BY id DESC LIMIT ?`,
    ).all(...args);
    return rows.map((r) => ({
      id: Number(r.id),
      sink: String(r.sink),
      record_id: Number(r.record_id),
      kind: String(r.kind),
      error: String(r.error),
      at: new Date(Number(r.at)).toISOString(),
      ...(options.data ? { data: JSON.parse(String(r.payload)) } : {}),
    }));
  }

  /** A sink's dead letters after id `after`, oldest first, as records to deliver again. */
  take(sink: string, limit: number, options: { after?: number } = {}): LogRow[] {
    return this.db.prepare(
      "SELECT id, kind, payload FROM dead_letters WHERE sink = ? AND id > ? ORDER BY id LIMIT ?",
    ).all(sink, options.after ?? 0, limit).map((r) => ({
      id: Number(r.id),
      kind: String(r.kind),
      payload: String(r.payload),
    }));
  }

  /** Removes dead letters by id (delivered on replay); returns how many. */
  remove(ids: number[]): number {
    if (ids.length === 0) return 0;
    let removed = 0;
    const freed = this.db.prepare("SELECT bytes FROM dead_letters WHERE id = ?");
    const del = this.db.prepare("DELETE FROM dead_letters WHERE id = ?");
    transaction(this.db, () => {
      for (const id of ids) {
        const row = freed.get(id);
        if (!row) continue;
        this.#bytes -= Number(row.bytes);
        removed += Number(del.run(id).changes);
      }
    });
    return removed;
  }

  /** Deletes every dead letter of a sink (or all); returns how many. */
  purge(sink?: string): number {
    const where = sink ? "WHERE sink = ?" : "";
    const args = sink ? [sink] : [];
    const n = Number(this.db.prepare(`DELETE FROM dead_letters ${where}`).run(...args).changes);
    this.recount();
    return n;
  }

  /** Dead letters per sink now. */
  count(sink: string): number {
    return Number(
      this.db.prepare("SELECT COUNT(*) AS n FROM dead_letters WHERE sink = ?").get(sink)?.n ?? 0,
    );
  }
}
