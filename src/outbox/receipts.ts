/**
 * What a source remembers of messages it handed over, committed in the same
 * transaction as them: an MQTT packet id and the message's digest, so a
 * redelivery of a message already stored is recognised and not stored twice.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Receipts of one source. */
export interface Receipts {
  source: string;
  /** [id, digest] pairs; an id seen again replaces the older receipt (ids are reused). */
  entries: [string, string][];
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS receipts (
  source TEXT NOT NULL, id TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (source, id)
) WITHOUT ROWID;`;

/** The receipts table of the outbox file. */
export class ReceiptBook {
  readonly #put: StatementSync;
  readonly #get: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec(SCHEMA);
    this.#put = db.prepare("INSERT OR REPLACE INTO receipts (source, id, digest) VALUES (?, ?, ?)");
    this.#get = db.prepare("SELECT digest FROM receipts WHERE source = ? AND id = ?");
  }

  /** Stores receipts (call inside the transaction that stores their records). */
  put(receipts: Receipts): void {
    for (const [id, digest] of receipts.entries) this.#put.run(receipts.source, id, digest);
  }

  /** The digest a source's receipt `id` holds, if any. */
  get(source: string, id: string): string | undefined {
    const row = this.#get.get(source, id);
    return row ? String(row.digest) : undefined;
  }
}
