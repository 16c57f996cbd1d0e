/** Writing records into the outbox's log, many rows per statement. */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Rows per multi-row INSERT statement: a step per row cost more than the row. */
const INSERT_ROWS = 50;

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

  constructor(db: DatabaseSync) {
    this.#one = db.prepare(`${COLUMNS}(?, ?, ?, ?, ?)`);
    this.#many = db.prepare(COLUMNS + Array(INSERT_ROWS).fill("(?, ?, ?, ?, ?)").join(", "));
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
