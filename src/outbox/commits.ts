/**
 * The outbox's side of the group commit: appends, cursor moves, receipts, dead letters and
 * deletions gather in one open transaction until {@link OutboxCommits.commit}. A commit that
 * fails (disk full, I/O error) is rolled back whole: the records it held are counted as dropped
 * with the reason, and the figures kept in memory (bytes held, what waits per sink) recounted;
 * what the outbox does then (its full-disk state) is decided in full_disk.ts.
 *
 * A transaction that leaves nothing to keep is thrown away instead of committed: it began with
 * no record in the log, every record it appended went upstream (and was deleted) before the
 * commit, and it wrote nothing else (receipts, dead letters); never after a full disk, whose state
 * only a commit that goes may end. Committing it would write the pages its records passed
 * through, for a file that ends as it began; with the uplink up that was most of what the outbox
 * wrote to the flash (issue #37).
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { ComponentStatus } from "../status.ts";
import { errorMessage } from "../status.ts";
import { type CommitFigures, GroupedWrites } from "../util/group_commit.ts";
import type { SinkCursor } from "./cursors.ts";
import { ioReason, OutboxFullError } from "./errors.ts";
import type { FullDisk } from "./full_disk.ts";

/** What the outbox gives its commits. */
export interface OutboxCommitsOptions {
  path: string;
  /** synchronous=FULL: an fsync per commit. */
  full: boolean;
  /** Gather writes until commit(); else every write commits at once (as SQLite does alone). */
  grouped: boolean;
  status: ComponentStatus;
  cursors: Map<string, SinkCursor>;
  /** Recounts what the file holds after a rollback. */
  recount: () => void;
  /** Told after each commit (deliveries wake up: records held back became readable). */
  committed: () => void;
  /** Where the commits are counted (kept across a reopening of the file). */
  figures: CommitFigures;
  /** The full-disk state: told of each commit, asked what a refused one does. */
  fullDisk: FullDisk;
}

/** The outbox file's open transaction. */
export class OutboxCommits {
  readonly #writes: GroupedWrites;
  /** Records appended since the last commit (dropped if it fails). */
  #records = 0;
  /** The first record appended since the last commit for a sender that waits for it. */
  #unreadFrom = Infinity;
  /** The open transaction: SQLite's change count at its start, those known to need no keeping. */
  #open = { changes: 0, known: 0, logWasEmpty: false };
  readonly #changes: StatementSync;
  readonly #anyRecord: StatementSync;

  constructor(readonly db: DatabaseSync, readonly options: OutboxCommitsOptions) {
    this.#writes = new GroupedWrites(db, options.path, {
      full: options.full,
      figures: options.figures,
    });
    this.#changes = db.prepare("SELECT total_changes() AS n");
    this.#anyRecord = db.prepare("SELECT EXISTS (SELECT 1 FROM records) AS any");
  }

  /** Opens the group's transaction (grouped mode) before a write. */
  begin(): void {
    if (!this.options.grouped || this.#writes.open) return;
    const logWasEmpty = this.#anyRecord.get()?.any === 0;
    this.#writes.begin();
    this.#open = { changes: this.#count(), known: 0, logWasEmpty };
  }

  #count(): number {
    return Number(this.#changes.get()?.n ?? 0);
  }

  /**
   * Runs `write` (an append, a cursor moving, delivered records deleted) as a write that needs no
   * commit if every record of the transaction is delivered by then. Any other change in the
   * transaction (a receipt, a dead letter, a sink forgotten) makes it one to keep.
   */
  undoable<T>(write: () => T): T {
    if (!this.options.grouped) return write();
    const before = this.#count();
    const out = write();
    this.#open.known += this.#count() - before;
    return out;
  }

  /** Counts records appended into the open transaction. */
  appended(n: number): void {
    if (this.options.grouped) this.#records += n;
  }

  /** Commits, made, fsyncs and checkpoints. */
  get figures() {
    return this.#writes.figures;
  }

  /**
   * Commits the open transaction. When the commit fails it is rolled back, the records it held
   * counted as dropped (the reason: disk full or an I/O error) and {@link OutboxFullError} thrown.
   */
  commit(): void {
    const records = this.#records;
    const fullDisk = this.options.fullDisk;
    if (this.#nothingToKeep()) return this.#discard();
    fullDisk.committing();
    try {
      this.#writes.commit();
      this.#records = 0;
      this.#unreadFrom = Infinity;
      fullDisk.committed();
      this.options.committed();
    } catch (e) {
      const reason = ioReason(e);
      this.rollback(reason);
      fullDisk.commitRefused(e, records); // after the rollback: what is held is recounted
      throw new OutboxFullError(
        `outbox could not commit ${records} records: ${errorMessage(e)}`,
        reason,
      );
    }
  }

  /** See the module comment. */
  #nothingToKeep(): boolean {
    if (!this.options.grouped || !this.#writes.open || !this.#open.logWasEmpty) return false;
    if (this.#unreadFrom !== Infinity) return false; // a sender waits for this commit
    // After a full disk or an I/O error only a commit that goes proves there is room again.
    if (this.options.fullDisk.status.info.full) return false;
    for (const c of this.options.cursors.values()) if (c.pending.records > 0) return false;
    return this.#count() - this.#open.changes === this.#open.known;
  }

  /** Throws the transaction away: the file stays as the last commit left it (an empty log). */
  #discard(): void {
    this.#writes.rollback();
    this.#records = 0;
    this.options.figures.skipped = (this.options.figures.skipped ?? 0) + 1;
    this.options.recount();
    for (const c of this.options.cursors.values()) c.recount();
    this.options.committed();
  }

  /** Throws away the open transaction; its records are counted as dropped (`reason`). */
  rollback(reason = "rolled_back"): void {
    // After a failed COMMIT SQLite may have rolled back already: the counts are redone anyway.
    if (!this.#writes.open && reason === "rolled_back") return;
    this.#writes.rollback();
    if (this.#records > 0) this.options.status.drop(reason, this.#records);
    this.#records = 0;
    this.#unreadFrom = Infinity;
    this.options.recount();
    for (const c of this.options.cursors.values()) c.recount();
  }

  /**
   * Records from `id` on, appended for a sender that waits for their commit (MQTT ack: commit,
   * /ingest), are read by no sink before that commit: delivered, then lost to a crash before the
   * commit, they would come again from their sender and be stored twice. Others are read at
   * once (delivered and deleted in one transaction, they mostly never reach the disk).
   */
  holdFrom(id: number): void {
    if (this.options.grouped && id < this.#unreadFrom) this.#unreadFrom = id;
  }

  /** The rows a sink may read now (see {@link holdFrom}); rows come in id order. */
  readable<T extends { id: number }>(rows: T[]): T[] {
    const from = this.#unreadFrom;
    return rows.length > 0 && rows[rows.length - 1].id >= from
      ? rows.filter((r) => r.id < from)
      : rows;
  }

  /** Before freeing room after a failed insert: what the group holds is committed first. */
  commitBeforeRecovery(): void {
    if (this.options.grouped) this.commit();
  }
}
