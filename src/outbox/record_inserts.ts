/** Writing records into the outbox's log, many rows per statement. */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Rows per multi-row INSERT statement: a step per row cost more than the row. */
const INSERT_ROWS = 50;

/** The outbox file's tables. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, node TEXT NOT NULL,
  created INTEGER NOT NULL, bytes INTEGER NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT, sink TEXT NOT NULL, record_id INTEGER NOT NULL,
  kind TEXT NOT NULL, payload TEXT NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL
);
`;

const COLUMNS = "INSERT INTO records (kind, node, created, bytes, payload) VALUES ";

/** A record as it is stored: its kind, node, encoded payload and size. */
export interface StoredRecord {
  kind: string;
  node: string;
  payload: string;
  bytes: number;
}

/** The outbox log's insert statements (call inside a transaction). */
export class RecordInserts {
  readonly #one: StatementSync;
  readonly #many: StatementSync;
  readonly #last: StatementSync;

  constructor(db: DatabaseSync) {
    this.#one = db.prepare(`${COLUMNS}(?, ?, ?, ?, ?)`);
    this.#many = db.prepare(COLUMNS + Array(INSERT_ROWS).fill("(?, ?, ?, ?, ?)").join(", "));
    this.#last = db.prepare("SELECT last_insert_rowid() AS id");
  }

  /** The id of the last record inserted (ids of one insert are consecutive). */
  get lastId(): number {
    return Number(this.#last.get()?.id ?? 0);
  }

  /** Inserts `rows`, stamped `now`, in order. */
  run(rows: StoredRecord[], now: number): void {
    let i = 0;
    for (; i + INSERT_ROWS <= rows.length; i += INSERT_ROWS) {
      const args: (string | number)[] = [];
      for (let j = i; j < i + INSERT_ROWS; j++) {
        const r = rows[j];
        args.push(r.kind, r.node, now, r.bytes, r.payload);
      }
      this.#many.run(...args);
    }
    for (; i < rows.length; i++) {
      const r = rows[i];
      this.#one.run(r.kind, r.node, now, r.bytes, r.payload);
    }
  }
}
