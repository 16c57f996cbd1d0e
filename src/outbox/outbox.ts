import type { DatabaseSync } from "node:sqlite";
import type { Envelope, EnvelopeKind } from "../model.ts";
import { ComponentStatus, errorMessage } from "../status.ts";
import { settledNow } from "../util/wall_clock.ts";
import { systemClock } from "../util/clock.ts";
import { DamagedFileError, moveAside, openChecked, transaction } from "../util/sqlite.ts";
import { DeadLetters } from "./dead_letters.ts";
import { Retention } from "./retention.ts";
import { reportSalvage, salvageOutbox } from "./salvage.ts";
import { type LogRow, SinkCursor } from "./cursors.ts";
import { ioReason, OutboxFullError, showRefusal } from "./errors.ts";
import { ReceiptBook, type Receipts } from "./receipts.ts";
import { RecordInserts, SCHEMA, type StoredRecord } from "./record_inserts.ts";
import type { OutboxOptions, OutboxRow } from "./options.ts";
import { LogRecord } from "./log_record.ts";
import { OutboxCommits } from "./commits.ts";
import { FullDisk } from "./full_disk.ts";
import type { GroupFile } from "../util/group_commit.ts";

export { OutboxFullError } from "./errors.ts";
export type { LogRow } from "./cursors.ts";
export type { OutboxOptions, OutboxRow } from "./options.ts";
export type { Receipts } from "./receipts.ts";

/**
 * The durable store-and-forward queue: one append-only log in node:sqlite (WAL),
 * one cursor per sink. A row is deleted once every sink's cursor has passed it.
 */
export class Outbox {
  readonly status = new ComponentStatus("outbox", "outbox", true);
  #db!: DatabaseSync;
  #bytes = 0;
  /** The largest record held since opening: when a full batch of them fits, sizes need no check. */
  #largest = 0;
  #cursors = new Map<string, SinkCursor>();
  #now = (): number => this.options.clock?.now() ?? Date.now();
  #deadLetters: DeadLetters | null = null;
  #listeners = new Set<() => void>();
  /** Where a sink without a cursor starts: the end of the log, or its start after a salvage. */
  #newSinksStartAt: "end" | "start" = "end";
  #inserts!: RecordInserts;
  #receipts!: ReceiptBook;
  #retention!: Retention;
  #commits!: OutboxCommits;
  /** The full-disk state: which hand-overs wait, the reserve and what its room is for. */
  #fullDisk!: FullDisk;

  constructor(readonly options: OutboxOptions) {}

  /**
   * Opens the buffer. A damaged file is moved aside and a new one started with
   * every row that can still be read from it (each sink resumes where it was).
   */
  open(): void {
    const [db, held] = [() => this.#db, () => this.#bytes];
    this.#fullDisk = new FullDisk(this.status, { ...this.options, db, held, now: this.#now });
    try {
      this.#fullDisk.opening(() => this.#openFile());
    } catch (e) {
      if (!(e instanceof DamagedFileError)) throw e;
      const aside = moveAside(this.options.path);
      this.#openFile();
      const salvage = salvageOutbox(aside, this.#db);
      this.#countHeld();
      // Without the old cursors, sinks start at the beginning: the salvaged rows are theirs.
      if (!salvage.cursors) this.#newSinksStartAt = "start";
      const { path, log } = this.options;
      reportSalvage(salvage, { path, aside, error: e, status: this.status, log });
    }
    this.#fullDisk.keepReserve();
    this.status.state = "up";
  }

  #openFile(): void {
    const { exclusive, pageSize } = this.options;
    const synchronous = this.options.sync.toUpperCase();
    this.#db = openChecked(this.options.path, { synchronous, exclusive, pageSize });
    this.#db.exec(SCHEMA);
    this.#commits = new OutboxCommits(this.#db, {
      path: this.options.path,
      full: this.options.sync === "full",
      grouped: this.options.grouped ?? false,
      status: this.status,
      cursors: this.#cursors,
      recount: () => this.#countHeld(),
      committed: () => this.#listeners.forEach((fn) => fn()),
      figures: this.group.figures,
      fullDisk: this.#fullDisk,
    });
    this.#inserts = new RecordInserts(this.#db, this.#inserts?.given);
    this.#receipts = new ReceiptBook(this.#db);
    this.#retention = new Retention(this.#db, {
      cursors: this.#cursors,
      maxAgeMs: this.options.maxAgeMs,
      // A forward step of the clock makes no record old (src/util/wall_clock.ts).
      now: () => settledNow(this.options.clock ?? systemClock, this.options.maxAgeMs),
      freed: (bytes) => this.#bytes -= bytes,
      log: this.options.log,
    });
    this.#countHeld();
  }

  /** Records upstreams refused, kept with their messages (bounded, inside max_bytes). */
  get deadLetters(): DeadLetters {
    return this.#deadLetters!;
  }

  /** Counts what the file holds (after opening, and after a salvage filled it). */
  #countHeld(): void {
    // One object per file: a dead-letter replay holds it across commits (and their rollbacks).
    if (this.#deadLetters?.db === this.#db) this.#deadLetters.recount();
    else {
      this.#deadLetters = new DeadLetters(this.#db, {
        maxBytes: Math.min(this.options.maxDeadLetterBytes, this.options.maxBytes / 4),
        dropped: (sink, n) => this.#cursors.get(sink)?.status.drop("dead_letters_dropped", n),
      });
    }
    const held = this.#db.prepare(
      "SELECT COALESCE(SUM(bytes), 0) AS b, COALESCE(MAX(bytes), 0) AS m FROM records",
    ).get();
    this.#bytes = Number(held?.b);
    this.#largest = Number(held?.m);
  }

  /** Registers a sink's cursor: what kinds it wants and which nodes (SQLite GLOB patterns). */
  register(
    sink: string,
    options: { kinds: EnvelopeKind[]; nodes: string[]; status: ComponentStatus },
  ): void {
    this.#cursors.set(
      sink,
      new SinkCursor(this.#db, sink, { ...options, startAt: this.#newSinksStartAt }),
    );
  }

  /** Forgets a sink (removed from config): its cursor no longer holds rows back. */
  unregister(sink: string): void {
    this.#commits.begin();
    this.#cursors.get(sink)?.forget();
    this.#cursors.delete(sink);
    this.compact();
  }

  /** True when some registered sink forwards this kind. */
  wants(kind: EnvelopeKind): boolean {
    for (const c of this.#cursors.values()) if (c.kinds.includes(kind)) return true;
    return false;
  }

  /** Calls `fn` after each append (deliveries wake up on it). */
  onAppend(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Appends records in one durable commit, with the source's receipts if given.
   * Only kinds some sink wants are kept. Throws {@link OutboxFullError} when it
   * cannot take them (reject_new, disk full).
   */
  append(envelopes: Envelope[], options: { receipts?: Receipts; waits?: boolean } = {}): number {
    const wanted = envelopes.filter((e) => this.wants(e.kind));
    const receipts = options.receipts;
    this.#commits.begin();
    if (wanted.length === 0) {
      if (receipts) transaction(this.#db, () => this.#receipts.put(receipts));
      return 0;
    }
    const now = this.#now();
    const rows = wanted.map((e) => {
      const payload = JSON.stringify(e.data);
      return { kind: e.kind, node: e.data.node ?? "", payload, bytes: payload.length + 48 };
    });
    const size = rows.reduce((n, r) => n + r.bytes, 0);
    const refuse = (reason: string, e: unknown) =>
      this.#fullDisk.refuse(e, { records: rows.length, reason, at: this.#now() });
    const waiting = this.#fullDisk.refusing();
    if (waiting) return refuse(waiting, new Error("no room on the disk yet"));
    if (this.bytes + size > this.options.maxBytes) {
      // An empty outbox takes one hand-over over its bound (as drop_oldest): else it never goes.
      if (this.options.onFull === "reject_new" && this.bytes > 0) {
        showRefusal(this.status, "buffer_full", { records: rows.length, at: now });
        throw new OutboxFullError(
          `outbox is full (${this.#bytes} of ${this.options.maxBytes} bytes, on_full: reject_new)`,
          "buffer_full",
        );
      }
      try {
        // Free a slice at once (not a drop per append); dead letters before records on their way.
        let need = Math.max(
          this.bytes + size - this.options.maxBytes,
          Math.floor(this.options.maxBytes / 50),
        );
        need -= this.deadLetters.dropOldest(need);
        if (need > 0) this.#retention.dropOldest(need, "buffer_full");
      } catch (e) {
        return refuse(ioReason(e), e);
      }
    }
    try {
      this.#insertRows(rows, now, receipts);
    } catch (e) {
      // Disk full or I/O error: make room once if allowed, else refuse (the reserve: see ack).
      const reason = ioReason(e);
      if (this.options.onFull !== "drop_oldest") return refuse(reason, e);
      try {
        this.#commits.commitBeforeRecovery();
        this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        this.#retention.dropOldest(Math.max(size, Math.floor(this.#bytes / 10)), reason);
        this.#insertRows(rows, now, receipts);
      } catch (e2) {
        return refuse(reason, e2);
      }
    }
    this.status.ok(rows.length);
    this.status.count("appended_bytes", size - 48 * rows.length); // the records' own JSON
    this.#commits.appended(rows.length);
    if (options.waits) this.#commits.holdFrom(this.#inserts.lastId - rows.length + 1);
    this.#fullDisk.taken();
    for (const fn of this.#listeners) fn();
    return rows.length;
  }

  #insertRows(rows: StoredRecord[], now: number, receipts?: Receipts) {
    this.#commits.begin();
    transaction(this.#db, () => {
      this.#commits.undoable(() => this.#inserts.run(rows, now));
      if (receipts) this.#receipts.put(receipts);
    });
    for (const r of rows) {
      this.#bytes += r.bytes;
      if (r.bytes > this.#largest) this.#largest = r.bytes;
      for (const c of this.#cursors.values()) c.appended(r.kind as EnvelopeKind, r.node, r.bytes);
    }
  }

  /** The digest a source's receipt `id` holds, if any. */
  receipt(source: string, id: string): string | undefined {
    return this.#receipts.get(source, id);
  }

  /**
   * The next records for a sink after its cursor (or after `after`, to read ahead), oldest
   * first: at most `limit` records and, past the first, at most `maxBytes` (files are large).
   * A read writes nothing (an idle sink's cursor moves in {@link skipOthers}).
   */
  read(sink: string, limit: number, o: { maxBytes?: number; after?: number } = {}): OutboxRow[] {
    return this.readRows(sink, limit, o).map((r) => new LogRecord(r));
  }

  /** {@link read} with the records as stored (their JSON not decoded): what a delivery sends. */
  readRows(sink: string, limit: number, o: { maxBytes?: number; after?: number } = {}): LogRow[] {
    const { maxBytes = Infinity, after } = o;
    const read = this.#cursor(sink).read(limit, { maxBytes, largest: this.#largest, after });
    return this.#commits.readable(read);
  }

  /**
   * When nothing waits for this sink (not even a record held for its commit), its cursor moves
   * past the rows meant for others, so they can be removed. True when it moved.
   */
  skipOthers(sink: string): boolean {
    const cursor = this.#cursor(sink);
    if (cursor.read(1, { maxBytes: Infinity, largest: 0 }).length > 0) return false;
    const max = Number(this.#db.prepare("SELECT COALESCE(MAX(id), 0) AS m FROM records").get()?.m);
    if (max <= cursor.position) return false;
    this.#commits.begin();
    this.#commits.undoable(() => cursor.moveTo(max, { passedNone: true }));
    return true;
  }

  #cursor(sink: string): SinkCursor {
    const cursor = this.#cursors.get(sink);
    if (!cursor) throw new Error(`sink ${sink} is not registered with the outbox`);
    return cursor;
  }

  /** The sink acknowledged everything up to `id`: move its cursor and remove rows all sinks passed. */
  ack(sink: string, id: number): void {
    try {
      this.#commits.begin();
      this.#commits.undoable(() => {
        this.#cursor(sink).moveTo(id);
        this.compact();
      });
    } catch (e) {
      // A disk full of the outbox's own WAL: the reserve's room lets the delivered rows go.
      if (this.#fullDisk.mayRetryDelivery(e)) return this.ack(sink, id);
      // The upstream has the records; a failed cursor update only means a replay later.
      throw new OutboxFullError(
        `outbox could not record delivery: ${errorMessage(e)}`,
        ioReason(e),
      );
    }
  }

  /** Keeps rejected records (4xx from upstream) with the server's message. */
  deadLetter(sink: string, rows: LogRow[], error: string): void {
    this.#commits.begin();
    this.deadLetters.add(sink, rows, error, this.#now());
    this.#cursor(sink).status.count("dead_lettered", rows.length);
  }

  /** Removes rows every sink has passed, and rows older than max_age. */
  compact(): void {
    this.#commits.begin();
    this.#retention.compact();
    this.#fullDisk.keepReserve(); // taken again once there is room (after a full disk)
  }

  /** The file in the gateway's group commit (its commits are made again when it is reopened). */
  readonly group: GroupFile = {
    commit: () => this.#commits.commit(),
    rollback: () => this.#commits.rollback(),
    figures: { commits: 0, fsyncs: 0, checkpoints: 0 },
  };

  /**
   * Where a sink's next batch starts (its delivery, on either thread): its position, the records
   * waiting for it, and the largest record held (see {@link LogReader.read}).
   */
  place(sink: string): { after: number; waiting: number; largest: number } {
    const cursor = this.#cursor(sink);
    return { after: cursor.position, waiting: cursor.pending.records, largest: this.#largest };
  }

  /** Queue depth of one sink: records, bytes and age of the oldest. */
  depth(sink: string): { records: number; bytes: number; oldest_age_ms: number | null } {
    const cursor = this.#cursor(sink);
    const oldest = cursor.oldestCreated();
    return { ...cursor.pending, oldest_age_ms: oldest === null ? null : this.#now() - oldest };
  }

  /** Total bytes held: records waiting and dead letters. */
  get bytes(): number {
    return this.#bytes + (this.#deadLetters?.bytes ?? 0);
  }

  close(): void {
    if (this.#db?.isOpen) {
      try {
        this.#commits.commit();
      } catch { /* counted as dropped */ }
      this.#db.close();
    }
    this.status.state = "stopped";
  }
}
