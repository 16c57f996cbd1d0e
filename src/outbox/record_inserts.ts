/** Writing records into the outbox's log, many rows per statement. */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Rows per multi-row INSERT statement: a step per row cost more than the row. */
const INSERT_ROWS = 50;

/**
 * The outbox file's tables. `records` has no AUTOINCREMENT (files made before keep theirs): the
 * ids are given by {@link RecordInserts}, and its sequence row was one more page in every commit
 * (~17 MiB a day of the flash bench with the uplink down).
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, node TEXT NOT NULL,
  created INTEGER NOT NULL, bytes INTEGER NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT, sink TEXT NOT NULL, record_id INTEGER NOT NULL,
  kind TEXT NOT NULL, payload TEXT NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL
);
`;

const COLUMNS = "INSERT INTO records (id, kind, node, created, bytes, payload) VALUES ";

/** A record as it is stored: its kind, node, encoded payload and size. */
export interface StoredRecord {
  kind: string;
  node: string;
  payload: string;
  bytes: number;
}

/**
 * The outbox log's insert statements (call inside a transaction). Ids are given here, not by
 * SQLite: a transaction whose records all went upstream before its commit is thrown away (see
 * OutboxCommits), and the ids it used must not come again while its records' ids may still be
 * in a sink's hands (a batch read ahead). After a restart they start past every id the file
 * knows: its records', the sinks' cursors' (a cursor may have passed ids no longer in the log,
 * and must not pass new ones) and an older file's AUTOINCREMENT sequence.
 */
export class RecordInserts {
  readonly #one: StatementSync;
  readonly #many: StatementSync;
  readonly #stored: StatementSync;
  #last: number | null = null;

  /** `after`: ids already given on this file before it was opened again (full disk). */
  constructor(db: DatabaseSync, readonly after = 0) {
    this.#one = db.prepare(`${COLUMNS}(?, ?, ?, ?, ?, ?)`);
    this.#many = db.prepare(COLUMNS + Array(INSERT_ROWS).fill("(?, ?, ?, ?, ?, ?)").join(", "));
    this.#stored = db.prepare(
      `SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0),
        COALESCE((SELECT MAX(id) FROM records), 0),
        COALESCE((SELECT MAX(last_id) FROM cursors), 0)) AS id`,
    );
  }

  /** The id of the last record inserted (ids of one insert are consecutive). */
  get lastId(): number {
    // Read from the file on first use: a salvage may have filled it after this was made.
    this.#last ??= Math.max(this.after, Number(this.#stored.get()?.id ?? 0));
    return this.#last;
  }

  /** The last id given, without reading the file (0 before the first insert). */
  get given(): number {
    return this.#last ?? this.after;
  }

  /** Inserts `rows`, stamped `now`, in order; returns how many rows were inserted. */
  run(rows: StoredRecord[], now: number): number {
    let id = this.lastId;
    let i = 0;
    for (; i + INSERT_ROWS <= rows.length; i += INSERT_ROWS) {
      const args: (string | number)[] = [];
      for (let j = i; j < i + INSERT_ROWS; j++) {
        const r = rows[j];
        args.push(++id, r.kind, r.node, now, r.bytes, r.payload);
      }
      this.#many.run(...args);
    }
    for (; i < rows.length; i++) {
      const r = rows[i];
      this.#one.run(++id, r.kind, r.node, now, r.bytes, r.payload);
    }
    this.#last = id; // a throw above leaves it: the caller's savepoint undid every row
    return rows.length;
  }
}
