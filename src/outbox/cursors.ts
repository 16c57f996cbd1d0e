/**
 * One sink's place in the outbox log: what it takes (kinds, node globs), how far
 * it has delivered, and how much waits for it. The waiting figures are kept up
 * to date as records are appended and the cursor moves, because a COUNT over
 * millions of rows on every /status took a third of a second per sink.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { EnvelopeKind } from "../model.ts";
import type { ComponentStatus } from "../status.ts";
import { globRegExp } from "../util/glob.ts";

/** What a sink takes from the log. */
export interface CursorOptions {
  kinds: EnvelopeKind[];
  /** Node globs (SQLite GLOB); every node when empty. */
  nodes: string[];
  status: ComponentStatus;
  /** Where a sink without a cursor starts: the end of the log, or its start. */
  startAt: "end" | "start";
}

/** A record row as read for a sink. */
export interface LogRow {
  id: number;
  kind: string;
  payload: string;
}

/** What a sink takes from the log: its kinds and node globs. */
export interface LogShare {
  kinds: EnvelopeKind[];
  nodes: string[];
}

/**
 * Reads one sink's share of the log after a position: on the outbox's connection, or on a
 * Worker's own connection to the same WAL file (readers never block the writer).
 */
export class LogReader {
  readonly where: string;
  readonly #read: StatementSync;
  readonly #sizes: StatementSync;

  constructor(readonly db: DatabaseSync, readonly share: LogShare) {
    const kinds = share.kinds.map((k) => `'${k.replace(/'/g, "")}'`).join(",");
    const nodes = share.nodes.length
      ? ` AND (${share.nodes.map(() => "node GLOB ?").join(" OR ")})`
      : "";
    this.where = `id > ? AND kind IN (${kinds})${nodes}`;
    this.#read = db.prepare(
      `SELECT id, kind, payload FROM records WHERE ${this.where} ORDER BY id LIMIT ?`,
    );
    this.#sizes = db.prepare(`SELECT bytes FROM records WHERE ${this.where} ORDER BY id LIMIT ?`);
  }

  /**
   * The next rows after `after`, oldest first: at most `limit` and, past the first, at most
   * `maxBytes`. `largest` (the largest record held) says whether sizes must be read first:
   * when a full batch of the largest fits, they need not be.
   */
  read(after: number, limit: number, options: { maxBytes: number; largest: number }): LogRow[] {
    const nodes = this.share.nodes;
    if (limit * options.largest > options.maxBytes) {
      // Sizes first (the payloads of large records stay on disk), then only what fits.
      let bytes = 0;
      let fit = 0;
      for (const r of this.#sizes.all(after, ...nodes, limit)) {
        bytes += Number(r.bytes);
        if (fit > 0 && bytes > options.maxBytes) break;
        fit++;
      }
      limit = Math.max(1, fit);
    }
    // node:sqlite gives id as a number (no BigInt reading), kind and payload as text: the rows
    // are used as they come (a copy per row was ~10% of what a burst allocates); each column
    // read is a property made per row, so only those three (0.65 -> 0.5 us a row).
    return this.#read.all(after, ...nodes, limit) as unknown as LogRow[];
  }
}

/** A sink's cursor and its view of the log. */
export class SinkCursor {
  readonly kinds: EnvelopeKind[];
  readonly nodes: string[];
  readonly status: ComponentStatus;
  /** Records and bytes after the cursor. */
  readonly pending = { records: 0, bytes: 0 };
  readonly #nodeMatch: RegExp | null;
  readonly #reader: LogReader;
  readonly #oldest: StatementSync;
  readonly #countRange: StatementSync;
  readonly #get: StatementSync;
  readonly #set: StatementSync;

  constructor(readonly db: DatabaseSync, readonly sink: string, options: CursorOptions) {
    this.kinds = options.kinds;
    this.nodes = options.nodes;
    this.status = options.status;
    this.#nodeMatch = options.nodes.length ? globRegExp(options.nodes) : null;
    // A new sink starts at the end of the log: it gets what arrives from now on.
    db.prepare(
      "INSERT OR IGNORE INTO cursors (sink, last_id) VALUES (?, " +
        (options.startAt === "end" ? "(SELECT COALESCE(MAX(id), 0) FROM records))" : "0)"),
    ).run(sink);
    this.#reader = new LogReader(db, options);
    const where = this.#reader.where;
    this.#oldest = db.prepare(`SELECT created FROM records WHERE ${where} ORDER BY id LIMIT 1`);
    this.#countRange = db.prepare(
      `SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM records WHERE ${where} AND id <= ?`,
    );
    this.#get = db.prepare("SELECT last_id FROM cursors WHERE sink = ?");
    this.#set = db.prepare("UPDATE cursors SET last_id = ? WHERE sink = ?");
    // Counted once here; then appends add and cursor moves subtract.
    this.recount();
  }

  /** Counts what waits for this sink from the table (at start, and after a rollback). */
  recount(): void {
    const all = this.#countRange.get(this.position, ...this.nodes, Number.MAX_SAFE_INTEGER);
    this.pending.records = Number(all?.n ?? 0);
    this.pending.bytes = Number(all?.b ?? 0);
  }

  /** The id of the last record this sink is done with. */
  get position(): number {
    return Number(this.#get.get(this.sink)?.last_id ?? 0);
  }

  /** Accounts for a record just appended, if this sink takes it. */
  appended(kind: EnvelopeKind, node: string, bytes: number): void {
    if (!this.kinds.includes(kind)) return;
    if (this.#nodeMatch && !this.#nodeMatch.test(node)) return;
    this.pending.records++;
    this.pending.bytes += bytes;
  }

  /**
   * Moves the cursor forward to `id`; returns how many of this sink's records
   * it passed (not counted when the caller knows there were none).
   */
  moveTo(id: number, options: { passedNone?: boolean } = {}): number {
    const from = this.position;
    if (id <= from) return 0;
    this.#set.run(id, this.sink);
    if (options.passedNone) return 0;
    const r = this.#countRange.get(from, ...this.nodes, id);
    const n = Number(r?.n ?? 0);
    this.pending.records = Math.max(0, this.pending.records - n);
    this.pending.bytes = Math.max(0, this.pending.bytes - Number(r?.b ?? 0));
    return n;
  }

  /** The next rows after the cursor, or after `after` (see {@link LogReader.read}). */
  read(
    limit: number,
    options: { maxBytes: number; largest: number; after?: number },
  ): LogRow[] {
    return this.#reader.read(options.after ?? this.position, limit, options);
  }

  /** When the oldest record waiting for this sink was appended (ms), or null. */
  oldestCreated(): number | null {
    if (this.pending.records === 0) return null;
    const row = this.#oldest.get(this.position, ...this.nodes);
    return row?.created ? Number(row.created) : null;
  }

  /** Drops the cursor (the sink was removed): it no longer holds rows back. */
  forget(): void {
    this.db.prepare("DELETE FROM cursors WHERE sink = ?").run(this.sink);
  }
}
