import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Sample, Window } from "../model.ts";
import { ComponentStatus, errorMessage } from "../status.ts";
import { DamagedFileError, moveAside, openChecked, recovery, transaction } from "../util/sqlite.ts";
import { type CommitFigures, GroupedWrites } from "../util/group_commit.ts";
import {
  type Level,
  QUERY_LIMIT,
  type SeriesPoint,
  type SeriesQuery,
  type Store,
  type StoreOptions,
} from "./store.ts";
import { findLevel, groupBySecond, StatsAccumulator, windowRange } from "./windows.ts";
import { RawSeconds } from "./raw_seconds.ts";
import { FinerWindows } from "./finer_windows.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS windows (
  level TEXT NOT NULL, start INTEGER NOT NULL, node TEXT NOT NULL, stats TEXT NOT NULL,
  PRIMARY KEY (level, start, node)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending_windows (id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS window_state (level TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS window_progress (
  level TEXT PRIMARY KEY, start INTEGER NOT NULL, node TEXT NOT NULL
);
`;

/**
 * Windows one call computes at most: a flood's minute (250,000 nodes) stops after this many,
 * its place (the window's start and the last node done) kept in `window_progress` in the same
 * transaction, and the next call goes on from there after the group commit (the pipeline
 * waits for one between calls). One transaction holds a bounded number of windows and
 * pending rows, as `MAX_TAKEN` bounds samples; a power cut after any commit resumes the
 * window after its last node: none computed twice.
 */
const WINDOWS_PER_CALL = 1000;

/**
 * The store's file: only its own connection opens it (exclusive: no -shm file, whose mmap'd
 * pages the kernel writes back after commits) and a new one has 1 KiB pages (a minute's blocks
 * and windows are a few KiB): measured in docs/architecture.md (flash writes).
 *
 * synchronous=NORMAL, and a commit the gateway relies on is made durable by an fsync of the WAL
 * (see {@link EmbeddedStore.commit}). Alone, NORMAL let a power cut take the store's last commits
 * while the outbox (FULL) kept them: window_state and pending windows went back, windows were
 * computed again from the seconds left and upserted upstream over the full ones.
 */
const FILE = { synchronous: "NORMAL", pageSize: 1024, exclusive: true };

/** The store on node:sqlite (WAL) in the data directory: the default, no server needed. */
export class EmbeddedStore implements Store {
  readonly status = new ComponentStatus("store", "embedded", true);
  #db!: DatabaseSync;
  #raw!: RawSeconds;
  #finer!: FinerWindows;
  #stmt!: Record<string, StatementSync>;
  #writes!: GroupedWrites;
  /** The open transaction holds windows: its commit is synced. */
  #mustSync = false;

  constructor(readonly path: string, readonly options: StoreOptions) {}

  /** Opens the file; a damaged one is moved aside (the store is a cache) and a new one started. */
  open(): Promise<void> {
    try {
      this.#db = openChecked(this.path, FILE);
    } catch (e) {
      if (!(e instanceof DamagedFileError)) throw e;
      const aside = moveAside(this.path);
      this.status.info.recovered = recovery(aside, e);
      this.status.count("recoveries");
      this.options.log?.error("store file is damaged; moved aside, starting a new one", {
        path: this.path,
        moved_to: aside,
        error: errorMessage(e),
      });
      this.#db = openChecked(this.path, FILE);
    }
    // Blocks and windows: a minute's pages, not the 16 MiB rows per second once needed.
    this.#db.exec("PRAGMA cache_size=-4000;");
    this.#db.exec(SCHEMA);
    this.#writes = new GroupedWrites(this.#db, this.path, { full: false });
    const db = this.#db;
    this.#raw = new RawSeconds(db, {
      maxRows: this.options.maxRows,
      graceSeconds: this.options.graceSeconds,
      begin: () => this.#begin(),
    });
    this.#commitNow();
    this.#finer = new FinerWindows(db);
    this.#stmt = {
      putWindow: db.prepare(
        "INSERT OR REPLACE INTO windows (level, start, node, stats) VALUES (?, ?, ?, ?)",
      ),
      pend: db.prepare("INSERT INTO pending_windows (record) VALUES (?)"),
      state: db.prepare("SELECT last FROM window_state WHERE level = ?"),
      setState: db.prepare("INSERT OR REPLACE INTO window_state (level, last) VALUES (?, ?)"),
      progress: db.prepare("SELECT start, node FROM window_progress WHERE level = ?"),
      setProgress: db.prepare(
        "INSERT OR REPLACE INTO window_progress (level, start, node) VALUES (?, ?, ?)",
      ),
      doneProgress: db.prepare("DELETE FROM window_progress WHERE level = ?"),
    };
    this.status.state = "up";
    this.status.info.path = this.path;
    return Promise.resolve();
  }

  #begin(): void {
    this.#writes.begin();
  }

  /** Not grouped: each write is committed at once. */
  #commitNow(): void {
    if (!this.options.grouped) this.commit();
  }

  #transaction<T>(fn: () => T): T {
    this.#begin();
    const out = transaction(this.#db, fn);
    this.#commitNow();
    return out;
  }

  /**
   * Commits the writes gathered (grouped: the gateway's group commit, after the outbox's), with
   * the open minutes' new seconds journaled. The commit is synced (one fsync of the WAL, which
   * makes the commits before it durable too) when it holds windows (computed, or handed to the
   * outbox), or when a sender is told "stored" (`acknowledging`: MQTT ack: commit, /ingest),
   * and at every commit without a group commit. So after a power cut no window is computed
   * again, and none is computed from fewer seconds than were acknowledged.
   *
   * Why not an fsync at every commit, or flagging windows instead: synced every 10 s the store
   * rewrote a 4 KiB page of its WAL per commit (flash bench: 190 -> 282 MiB/day, over the 256
   * budget); a flag would need every sink to carry it and upstream would still lose the window.
   * What is not synced at once is what no sender was told about (a VE.Direct device's seconds):
   * a cut may take up to a minute of them from the store (the outbox has them for upstream), so
   * the window of that minute counts fewer seconds than upstream's raw points.
   */
  commit(options: { acknowledging?: boolean } = {}): void {
    this.#raw.journal();
    const sync = this.options.sync !== "NORMAL" &&
      (this.#mustSync || options.acknowledging === true || !this.options.grouped);
    this.#writes.commit({ sync });
    this.#mustSync = false;
  }

  /** Throws away the writes gathered since the last commit (the outbox's commit failed). */
  rollback(): void {
    this.#writes.rollback();
    this.#raw.forgetCounts();
  }

  /** The store in the gateway's group commit, when its writes are grouped. */
  get group(): EmbeddedStore | undefined {
    return this.options.grouped ? this : undefined;
  }

  /** Commits made, and their fsyncs (synced commits and checkpoints). */
  get figures(): CommitFigures {
    return this.#writes?.figures ?? { commits: 0, fsyncs: 0, checkpoints: 0 };
  }

  /** Raw seconds wait in memory while their minute is open (see {@link RawSeconds}). */
  write(samples: Sample[]): Promise<void> {
    try {
      this.#raw.put(groupBySecond(samples, this.options.columns));
      this.#commitNow();
      this.status.ok(samples.length);
    } catch (e) {
      this.status.fail(e, samples.length);
      throw e;
    }
    return Promise.resolve();
  }

  /** Writes the closed minutes' raw seconds as blocks. */
  flush(): Promise<void> {
    this.#raw.persist();
    this.#commitNow();
    return Promise.resolve();
  }

  #lastOf(level: string): number | null {
    const row = this.#stmt.state.get(level);
    return row ? Number(row.last) : null;
  }

  aggregate(level: Level, now: number): Promise<{ windows: number; more: boolean }> {
    const { first, lastClosable } = windowRange(level, {
      now,
      graceSeconds: this.options.graceSeconds,
      last: this.#lastOf(level.name),
      fromLast: level.from ? this.#lastOf(level.from.name) : undefined,
    });
    if (first > lastClosable) return Promise.resolve({ windows: 0, more: false });
    const end = Math.min(
      lastClosable,
      first + (this.options.maxWindowsPerCall - 1) * level.seconds,
    );
    // A window stopped part-way by the last call goes on after its last node.
    const progress = this.#stmt.progress.get(level.name);
    let after = progress && Number(progress.start) === first ? String(progress.node) : null;
    let written = 0;
    let stopped: [number, string] | null = null;
    this.#transaction(() => {
      windows: for (let w = first; w <= end; w += level.seconds) {
        for (const win of this.#compute(level, w, after)) {
          const stats = JSON.stringify(win.stats);
          this.#stmt.putWindow.run(level.name, w, win.node, stats);
          this.#stmt.pend.run(JSON.stringify(win));
          if (++written < WINDOWS_PER_CALL) continue;
          stopped = [w, win.node];
          break windows;
        }
        after = null;
      }
      if (stopped) {
        this.#stmt.setState.run(level.name, stopped[0] - level.seconds);
        this.#stmt.setProgress.run(level.name, ...stopped);
      } else {
        this.#stmt.setState.run(level.name, end);
        this.#stmt.doneProgress.run(level.name);
      }
      this.#mustSync = true;
      const archiveNow = Math.min(now, this.options.archiveNow?.() ?? now);
      const expired = Math.floor(archiveNow / 1000) - this.options.archiveTtlSeconds;
      this.#db.prepare("DELETE FROM windows WHERE level = ? AND start < ?").run(
        level.name,
        expired,
      );
    });
    this.status.count("windows_" + level.name, written);
    return Promise.resolve({ windows: written, more: stopped !== null || end < lastClosable });
  }

  /**
   * The windows of every node starting at `start` (after node `after`, in SQLite's order), one
   * node at a time: memory holds one node's statistics (and seconds) however many nodes there are.
   */
  *#compute(level: Level, start: number, after: string | null): Generator<Window> {
    const end = start + level.seconds;
    const percentiles = this.options.percentiles ?? [];
    if (!level.from) {
      for (const [node, seconds] of this.#raw.eachNode(start, end, after)) {
        const acc = new StatsAccumulator(percentiles);
        for (const [, fields] of seconds) {
          for (const k in fields) acc.add(k, fields[k]);
        }
        if (!acc.empty) yield acc.window(level, node, start);
      }
      return;
    }
    const finish = (node: string, acc: StatsAccumulator) => {
      // A rollup's percentiles come from its raw seconds while they are all still stored.
      if (percentiles.length > 0) {
        for (const [, fields] of this.#raw.seconds(node, start, end)) {
          for (const k in fields) acc.rawValue(k, fields[k]);
        }
      }
      return acc.window(level, node, start);
    };
    for (const [node, subs] of this.#finer.eachNode(level.from, { start, end }, after)) {
      const acc = new StatsAccumulator(percentiles);
      for (const stats of subs) for (const k in stats) acc.merge(k, stats[k]);
      if (!acc.empty) yield finish(node, acc);
    }
  }

  pendingWindows(limit: number): Promise<Window[]> {
    const rows = this.#db.prepare("SELECT record FROM pending_windows ORDER BY id LIMIT ?").all(
      limit,
    );
    return Promise.resolve(rows.map((r) => JSON.parse(String(r.record)) as Window));
  }

  ackWindows(count: number): Promise<void> {
    this.#begin();
    this.#db.prepare(
      "DELETE FROM pending_windows WHERE id IN (SELECT id FROM pending_windows ORDER BY id LIMIT ?)",
    ).run(count);
    this.#mustSync = true;
    this.#commitNow();
    return Promise.resolve();
  }

  query(q: SeriesQuery): Promise<SeriesPoint[] | Window[]> {
    const from = Math.floor(q.from / 1000);
    const to = Math.ceil(q.to / 1000);
    if (q.level) {
      const level = findLevel(this.options.levels, q.level);
      const rows = this.#db.prepare(
        "SELECT start, stats FROM windows WHERE level = ? AND node = ? AND start >= ? AND start < ? " +
          "ORDER BY start LIMIT ?",
      ).all(q.level, q.node, from, to, q.limit ?? QUERY_LIMIT);
      return Promise.resolve(rows.map((r): Window => ({
        level: q.level!,
        node: q.node,
        start: Number(r.start) * 1000,
        end: (Number(r.start) + level.seconds) * 1000,
        stats: JSON.parse(String(r.stats)),
      })));
    }
    const seconds = this.#raw.seconds(q.node, from, to).slice(0, q.limit ?? QUERY_LIMIT);
    return Promise.resolve(seconds.map(([sec, fields]) => ({ ts: sec * 1000, fields })));
  }

  nodes(): Promise<string[]> {
    return Promise.resolve(this.#raw.nodes());
  }

  close(): Promise<void> {
    if (this.#db?.isOpen) {
      try {
        this.#raw.persist({ all: true });
        this.#writes.commit();
      } catch (e) {
        // A full disk at the stop: the open minute is lost to the store (the outbox has it).
        this.status.fail(e);
      }
      this.#db.close();
    }
    this.status.state = "stopped";
    return Promise.resolve();
  }
}
