/** What every SQLite file of the gateway needs: checked opening, transactions, setting aside. */
import { DatabaseSync } from "node:sqlite";
import { errorMessage } from "../status.ts";

/** The file opened but its content is damaged (not a database, or failing the integrity check). */
export class DamagedFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DamagedFileError";
  }
}

/**
 * Opens a database in WAL mode and checks it (`PRAGMA quick_check`). Throws
 * {@link DamagedFileError} when the content is damaged; an error opening the
 * file at all (permissions, a directory in the way) is thrown as it is.
 */
export function openChecked(
  path: string,
  options: { synchronous: string; pageSize?: number; exclusive?: boolean },
): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    try {
      // A page size applies to a new file only (before WAL mode); an older file keeps its own.
      // Exclusive before the first WAL access: no -shm file, whose mmap'd pages the kernel
      // writes back after every commit (no other connection may open the file then).
      const first = (options.pageSize ? `PRAGMA page_size=${options.pageSize}; ` : "") +
        (options.exclusive ? "PRAGMA locking_mode=EXCLUSIVE; " : "");
      db.exec(`${first}PRAGMA journal_mode=WAL; PRAGMA synchronous=${options.synchronous};`);
    } catch (e) {
      if (/not a database|malformed|corrupt/i.test(errorMessage(e))) {
        throw new DamagedFileError(errorMessage(e));
      }
      throw e;
    }
    const check = db.prepare("PRAGMA quick_check").get();
    if (check?.quick_check !== "ok") {
      const report = String(check?.quick_check ?? "no answer").split("\n").slice(0, 3).join("; ");
      throw new DamagedFileError(`integrity check failed: ${report.slice(0, 300)}`);
    }
    return db;
  } catch (e) {
    try {
      db.close();
    } catch { /* unusable */ }
    throw e;
  }
}

/**
 * Moves a damaged database (and its -wal and -shm) aside as
 * `<path>.corrupt-<time>`, so a new one can start; returns where it went.
 */
export function moveAside(path: string, now: Date = new Date()): string {
  const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, "")}`;
  for (const suffix of ["", "-wal", "-shm"]) {
    try {
      Deno.renameSync(path + suffix, aside + suffix);
    } catch { /* not there */ }
  }
  return aside;
}

/**
 * Runs `fn` in one transaction: all of it is committed, or none. Inside a transaction already
 * open (a group commit's), it is a savepoint: all of `fn` stays in the group, or none of it.
 */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  const nested = db.isTransaction;
  db.exec(nested ? "SAVEPOINT nested" : "BEGIN");
  try {
    const out = fn();
    db.exec(nested ? "RELEASE nested" : "COMMIT");
    return out;
  } catch (e) {
    try {
      db.exec(nested ? "ROLLBACK TO nested; RELEASE nested" : "ROLLBACK");
    } catch { /* the failed commit already rolled back */ }
    throw e;
  }
}

/** What opening a damaged file did: where it went and why. */
export interface Recovery {
  at: string;
  moved_to: string;
  error: string;
}

/** A recovery record for a file moved aside because of `error`. */
export function recovery(movedTo: string, error: unknown): Recovery {
  return { at: new Date().toISOString(), moved_to: movedTo, error: errorMessage(error) };
}
