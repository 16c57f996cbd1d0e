/**
 * Group commit: a connection's writes gather in one open transaction and are committed together,
 * every `gateway.commit_interval` or sooner when a sender waits for them. On a Raspberry Pi's SD
 * card, what wears it out is each commit's few 4 KiB WAL pages and its fsync, not the data
 * (issue #37: a commit per sample wrote ~45x the data); one commit per interval writes a page
 * that fills over many samples once.
 */
import type { DatabaseSync } from "node:sqlite";

/** What a connection's commits cost: how many, and the fsyncs SQLite made for them. */
export interface CommitFigures {
  commits: number;
  fsyncs: number;
  checkpoints: number;
  /** Commits not made: the transaction left nothing to keep (the outbox, see its commits). */
  skipped?: number;
}

/**
 * The open transaction of one SQLite connection (WAL). Call {@link begin} before writing; the
 * writes are durable after {@link commit}. fsyncs are counted where they happen: one per commit
 * with `synchronous=FULL`, none with NORMAL, and per checkpoint the WAL's and the database's
 * (plus the WAL header's with FULL), a checkpoint being seen as the WAL's checkpoint sequence
 * number (its header, bytes 12-15) changing.
 */
export class GroupedWrites {
  readonly figures: CommitFigures;
  #sequence = -1;
  readonly #full: boolean;

  constructor(
    readonly db: DatabaseSync,
    readonly path: string,
    options: { full: boolean; figures?: CommitFigures },
  ) {
    this.#full = options.full;
    this.figures = options.figures ?? { commits: 0, fsyncs: 0, checkpoints: 0 };
    this.#sequence = this.#walSequence();
  }

  /** Opens the group's transaction if none is open. */
  begin(): void {
    if (!this.db.isTransaction) this.db.exec("BEGIN");
  }

  /** True when writes wait for the next commit. */
  get open(): boolean {
    return this.db.isOpen && this.db.isTransaction;
  }

  /**
   * Commits what was written since the last commit (nothing when no transaction is open).
   * `sync` (with NORMAL): the commit is made durable by an fsync of the WAL, which holds every
   * commit before it too (SQLite's synchronous cannot change inside a transaction).
   */
  commit(options: { sync?: boolean } = {}): boolean {
    if (!this.open) return false;
    this.db.exec("COMMIT");
    this.figures.commits++;
    if (this.#full) this.figures.fsyncs++;
    else if (options.sync) this.#syncWal();
    const seq = this.#walSequence();
    if (seq !== this.#sequence) {
      this.#sequence = seq;
      this.figures.checkpoints++;
      this.figures.fsyncs += this.#full ? 3 : 2;
    }
    return true;
  }

  /** Throws away what was written since the last commit. */
  rollback(): void {
    if (!this.open) return;
    try {
      this.db.exec("ROLLBACK");
    } catch { /* a failed COMMIT rolled back already */ }
  }

  #syncWal(): void {
    try {
      using wal = Deno.openSync(`${this.path}-wal`, { read: true });
      wal.syncSync();
      this.figures.fsyncs++;
    } catch (e) {
      // No WAL: the commit went into the database file, which SQLite synced.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  #walSequence(): number {
    try {
      using file = Deno.openSync(`${this.path}-wal`, { read: true });
      const header = new Uint8Array(16);
      if (file.readSync(header) !== 16) return -1;
      return new DataView(header.buffer).getUint32(12);
    } catch {
      return -1;
    }
  }
}

/** A file in the group: it commits, or rolls back when a file before it failed to. */
export interface GroupFile {
  /** `acknowledging`: a sender is told "stored" once this commit is made. */
  commit(options?: { acknowledging?: boolean }): void;
  rollback(): void;
  readonly figures: CommitFigures;
}

/** What /status shows of the group commit: the loss window and what the commits cost. */
export interface GroupCommitReport extends CommitFigures {
  /** Longest time a hand-over waits for its commit (`gateway.commit_interval`). */
  commit_interval_ms: number;
  last_commit_at: string | null;
  /** Commits made early because a sender waited for them (MQTT ack: commit, /ingest). */
  early_commits: number;
}

/** The longest an interval's commit waits for deliveries to send what waits (beforeInterval). */
export const FLUSH_MS = 1_000;

/** Records handed over between two commits at most before one is made early. */
export const MAX_TAKEN = 5_000;

/**
 * One commit for every file of the gateway's data path (the outbox, then the store), every
 * `intervalMs` and sooner when a sender waits ({@link committed}): senders waiting at once
 * share one commit. Files commit in order; when one fails, those after it are rolled back, so
 * the store never forgets what the outbox did not take (windows leave the store's pending
 * list in the same group that appends them).
 */
export class GroupCommit {
  #timer: ReturnType<typeof setInterval> | undefined;
  #soon: ReturnType<typeof setTimeout> | undefined;
  #waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #last: number | null = null;
  #early = 0;
  /** Records handed over since the last commit. */
  #taken = 0;
  #ticking = false;

  constructor(
    readonly files: GroupFile[],
    readonly options: {
      intervalMs: number;
      onError: (e: unknown) => void;
      now?: () => number;
      /**
       * Called before each interval's commit, which waits for it at most
       * {@link FLUSH_MS} (deliveries send what waits: the outbox may then have nothing to keep).
       */
      beforeInterval?: (withinMs: number) => Promise<unknown>;
    },
  ) {}

  /** Commits every interval from now on. */
  start(): void {
    this.#timer ??= setInterval(() => void this.#tick(), this.options.intervalMs);
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const within = Math.min(FLUSH_MS, this.options.intervalMs / 4);
      await this.options.beforeInterval?.(within);
      if (this.#timer !== undefined) this.commitNow(); // else stop() committed meanwhile
    } catch (e) {
      this.options.onError(e);
    } finally {
      this.#ticking = false;
    }
  }

  /** Resolves once what was written so far is committed; the commit comes at the next turn. */
  committed(): Promise<void> {
    this.#commitSoon();
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /**
   * Counts records handed over: past {@link MAX_TAKEN} since the last commit, one comes at the
   * next turn, so a flood holds a bounded transaction in memory (and in the WAL) however long
   * the interval; 4 devices never get near it.
   */
  took(records: number): void {
    this.#taken += records;
    if (this.#taken >= MAX_TAKEN) this.#commitSoon();
  }

  #commitSoon(): void {
    this.#soon ??= setTimeout(() => {
      this.#early++;
      try {
        this.commitNow();
      } catch (e) {
        this.options.onError(e);
      }
    }, 0);
  }

  /** Commits every file now, in order; throws the first failure (the waiters get it too). */
  commitNow(): void {
    clearTimeout(this.#soon);
    this.#soon = undefined;
    this.#taken = 0;
    const waiting = this.#waiting;
    this.#waiting = [];
    let failed: unknown = null;
    for (const file of this.files) {
      if (failed !== null) {
        file.rollback();
        continue;
      }
      try {
        file.commit({ acknowledging: waiting.length > 0 });
      } catch (e) {
        failed = e;
      }
    }
    this.#last = this.options.now?.() ?? Date.now();
    for (const w of waiting) failed === null ? w.resolve() : w.reject(failed);
    if (failed !== null) throw failed;
  }

  /** The loss window and what the commits cost (summed over the files). */
  report(): GroupCommitReport {
    const sum = (k: keyof CommitFigures) => this.files.reduce((n, f) => n + (f.figures[k] ?? 0), 0);
    return {
      commit_interval_ms: this.options.intervalMs,
      last_commit_at: this.#last === null ? null : new Date(this.#last).toISOString(),
      commits: sum("commits"),
      early_commits: this.#early,
      fsyncs: sum("fsyncs"),
      checkpoints: sum("checkpoints"),
      skipped: sum("skipped"),
    };
  }

  /** Stops the timer and commits what is left. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.commitNow();
  }
}
