/**
 * Rows that can still be read from a damaged outbox file, copied into the new
 * one with their ids (so each sink's cursor keeps its meaning). A damaged page
 * makes only the rows on it unreadable: ranges that fail are halved until the
 * bad rows are isolated, and those are counted as lost.
 */
import { DatabaseSync } from "node:sqlite";
import type { Logger } from "../log.ts";
import { type ComponentStatus, errorMessage } from "../status.ts";
import { recovery, transaction } from "../util/sqlite.ts";

/** What salvaging found. */
export interface Salvage {
  /** Unsent records copied into the new file. */
  salvaged: number;
  /** Record ids that could not be read. */
  lost: number;
  /** Whether the sinks' cursors were read (without them, every sink gets every salvaged row). */
  cursors: boolean;
}

const COLUMNS = "id, kind, node, created, bytes, payload";

function tryAll(
  db: DatabaseSync,
  sql: string,
  ...args: number[]
): Record<string, unknown>[] | null {
  try {
    return db.prepare(sql).all(...args) as Record<string, unknown>[];
  } catch {
    return null;
  }
}

/** Copies what is readable from the damaged file at `path` into `into` (a fresh outbox). */
export function salvageOutbox(path: string, into: DatabaseSync): Salvage {
  let old: DatabaseSync;
  try {
    old = new DatabaseSync(path, { readOnly: true });
  } catch {
    return { salvaged: 0, lost: 0, cursors: false };
  }
  try {
    const insert = into.prepare(
      `INSERT OR IGNORE INTO records (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    let salvaged = 0;
    let lost = 0;
    // A damaged page can return a row twice: only rows that went in count.
    const copy = (rows: Iterable<Record<string, unknown>>) => {
      for (const r of rows) {
        const put = insert.run(
          Number(r.id),
          String(r.kind),
          String(r.node),
          Number(r.created),
          Number(r.bytes),
          String(r.payload),
        );
        salvaged += Number(put.changes);
      }
    };
    const range = (lo: number, hi: number): void => {
      const rows = tryAll(
        old,
        `SELECT ${COLUMNS} FROM records WHERE id BETWEEN ? AND ? ORDER BY id`,
        lo,
        hi,
      );
      if (rows) return copy(rows);
      if (lo === hi) {
        lost++;
        return;
      }
      const mid = Math.floor((lo + hi) / 2);
      range(lo, mid);
      range(mid + 1, hi);
    };
    const bounds = tryAll(old, "SELECT MIN(id) AS lo, MAX(id) AS hi FROM records")?.[0];
    // Cursors first: without them every salvaged record goes to every sink again (a replay
    // overwrites by identity, it does not duplicate).
    const cursors = tryAll(old, "SELECT sink, last_id FROM cursors");
    transaction(into, () => {
      if (!bounds) {
        // The ends of the table cannot be found: take what a walk from each end reads.
        for (const order of ["ASC", "DESC"]) {
          try {
            copy(old.prepare(`SELECT ${COLUMNS} FROM records ORDER BY id ${order}`).iterate());
          } catch { /* the walk reached a damaged page */ }
        }
      } else if (bounds.lo !== null) {
        const lo = Number(bounds.lo);
        const hi = Number(bounds.hi);
        // Chunks of 1000 ids: a bad page costs only its own range.
        for (let at = lo; at <= hi; at += 1000) range(at, Math.min(hi, at + 999));
        // Rows are only ever deleted from the front, and a damaged page can also drop rows
        // without an error: whatever is missing between the ends is counted lost. (Ids a failed
        // commit rolled back leave a gap too, counted here once more: they were never written.)
        lost = Math.max(lost, hi - lo + 1 - salvaged);
      }
      const putCursor = into.prepare(
        "INSERT OR REPLACE INTO cursors (sink, last_id) VALUES (?, ?)",
      );
      for (const c of cursors ?? []) putCursor.run(String(c.sink), Number(c.last_id));
      for (const table of ["dead_letters", "receipts"]) {
        const rows = tryAll(old, `SELECT * FROM ${table}`) ?? [];
        if (rows.length === 0) continue;
        const cols = Object.keys(rows[0]);
        const put = into.prepare(
          `INSERT OR IGNORE INTO ${table} (${cols.join(", ")}) VALUES (${
            cols.map(() => "?").join(", ")
          })`,
        );
        for (const r of rows) put.run(...cols.map((c) => r[c] as string | number));
      }
      // The log goes on after the highest id seen, also when the last rows were unreadable.
      if (bounds && bounds.hi !== null) {
        const hi = Number(bounds.hi);
        const seq = into.prepare(
          "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'records'",
        )
          .run(hi);
        if (Number(seq.changes) === 0) {
          into.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('records', ?)").run(hi);
        }
      }
    });
    return { salvaged, lost, cursors: cursors !== null };
  } finally {
    old.close();
  }
}

/** Says what a salvage of a damaged outbox file did: the log, the status and its counters. */
export function reportSalvage(
  salvage: Salvage,
  options: { path: string; aside: string; error: unknown; status: ComponentStatus; log: Logger },
): void {
  const { path, aside, error, status, log } = options;
  log.error("outbox buffer file is damaged; moved aside, unsent rows salvaged", {
    path,
    moved_to: aside,
    error: errorMessage(error),
    ...salvage,
  });
  status.info.recovered = { ...recovery(aside, error), ...salvage };
  status.count("recoveries");
  if (salvage.lost > 0) status.drop("damaged_file", salvage.lost);
}
