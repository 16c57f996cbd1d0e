import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { FieldValue, Sample, Stats, Window } from "../model.ts";
import { ComponentStatus, errorMessage } from "../status.ts";
import { LruMap } from "../util/lru.ts";
import { DamagedFileError, moveAside, openChecked, recovery, transaction } from "../util/sqlite.ts";
import {
  type Level,
  QUERY_LIMIT,
  type SeriesPoint,
  type SeriesQuery,
  type Store,
  type StoreOptions,
} from "./store.ts";
import { findLevel, groupBySecond, StatsAccumulator, windowRange } from "./windows.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS samples (
  node TEXT NOT NULL, ts INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (node, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows (
  level TEXT NOT NULL, start INTEGER NOT NULL, node TEXT NOT NULL, stats TEXT NOT NULL,
  PRIMARY KEY (level, start, node)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending_windows (id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS window_state (level TEXT PRIMARY KEY, last INTEGER NOT NULL);
`;

/** The store on node:sqlite (WAL) in the data directory: the default, no server needed. */
export class EmbeddedStore implements Store {
  readonly status = new ComponentStatus("store", "embedded", true);
  #db!: DatabaseSync;
  /** Rows per node, for the nodes written lately (counted from the table on a miss). */
  #rows = new LruMap<string, number>(10_000);
  #stmt!: Record<string, StatementSync>;

  constructor(readonly path: string, readonly options: StoreOptions) {}

  /** Opens the file; a damaged one is moved aside (the store is a cache) and a new one started. */
  open(): Promise<void> {
    try {
      this.#db = openChecked(this.path, { synchronous: "NORMAL" });
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
      this.#db = openChecked(this.path, { synchronous: "NORMAL" });
    }
    this.#db.exec("PRAGMA cache_size=-16000;");
    this.#db.exec(SCHEMA);
    const db = this.#db;
    this.#stmt = {
      insert: db.prepare("INSERT OR IGNORE INTO samples (node, ts, data) VALUES (?, ?, ?)"),
      count: db.prepare("SELECT COUNT(*) AS n FROM samples WHERE node = ?"),
      select: db.prepare("SELECT data FROM samples WHERE node = ? AND ts = ?"),
      update: db.prepare("UPDATE samples SET data = ? WHERE node = ? AND ts = ?"),
      trim: db.prepare(
        "DELETE FROM samples WHERE node = ? AND ts <= (SELECT ts FROM samples WHERE node = ? " +
          "ORDER BY ts DESC LIMIT 1 OFFSET ?)",
      ),
      range: db.prepare(
        "SELECT node, ts, data FROM samples WHERE ts >= ? AND ts < ? ORDER BY node, ts",
      ),
      nodeRange: db.prepare("SELECT data FROM samples WHERE node = ? AND ts >= ? AND ts < ?"),
      windowsIn: db.prepare(
        "SELECT node, start, stats FROM windows WHERE level = ? AND start >= ? AND start < ? " +
          "ORDER BY node, start",
      ),
      putWindow: db.prepare(
        "INSERT OR REPLACE INTO windows (level, start, node, stats) VALUES (?, ?, ?, ?)",
      ),
      pend: db.prepare("INSERT INTO pending_windows (record) VALUES (?)"),
      state: db.prepare("SELECT last FROM window_state WHERE level = ?"),
      setState: db.prepare("INSERT OR REPLACE INTO window_state (level, last) VALUES (?, ?)"),
    };
    this.status.state = "up";
    this.status.info.path = this.path;
    return Promise.resolve();
  }

  #transaction<T>(fn: () => T): T {
    return transaction(this.#db, fn);
  }

  write(samples: Sample[]): Promise<void> {
    const grouped = groupBySecond(samples, this.options.columns);
    const { insert, select, update, trim } = this.#stmt;
    try {
      this.#transaction(() => {
        for (const [node, seconds] of grouped) {
          let rows = this.#rows.get(node) ?? Number(this.#stmt.count.get(node)?.n ?? 0);
          for (const [sec, fields] of seconds) {
            if (Number(insert.run(node, sec, JSON.stringify(fields)).changes) > 0) {
              rows++;
              continue;
            }
            // Same second written by an earlier batch: merge, later keys win.
            const old = select.get(node, sec);
            const merged = { ...JSON.parse(String(old?.data ?? "{}")), ...fields };
            update.run(JSON.stringify(merged), node, sec);
          }
          if (rows > this.options.maxRows) {
            trim.run(node, node, this.options.maxRows);
            rows = this.options.maxRows;
          }
          this.#rows.set(node, rows);
        }
      });
      this.status.ok(samples.length);
    } catch (e) {
      this.status.fail(e, samples.length);
      throw e;
    }
    return Promise.resolve();
  }

  flush(): Promise<void> {
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
    let written = 0;
    this.#transaction(() => {
      for (let w = first; w <= end; w += level.seconds) {
        for (const win of this.#compute(level, w)) {
          const stats = JSON.stringify(win.stats);
          this.#stmt.putWindow.run(level.name, w, win.node, stats);
          this.#stmt.pend.run(JSON.stringify(win));
          written++;
        }
      }
      this.#stmt.setState.run(level.name, end);
      const archiveNow = Math.min(now, this.options.archiveNow?.() ?? now);
      const expired = Math.floor(archiveNow / 1000) - this.options.archiveTtlSeconds;
      this.#db.prepare("DELETE FROM windows WHERE level = ? AND start < ?").run(
        level.name,
        expired,
      );
    });
    this.status.count("windows_" + level.name, written);
    return Promise.resolve({ windows: written, more: end < lastClosable });
  }

  /**
   * The windows of every node starting at `start`, one node at a time: rows come
   * ordered by node, so memory holds one node's statistics however many nodes there are.
   */
  *#compute(level: Level, start: number): Generator<Window> {
    const rows = level.from
      ? this.#stmt.windowsIn.iterate(level.from.name, start, start + level.seconds)
      : this.#stmt.range.iterate(start, start + level.seconds);
    const percentiles = this.options.percentiles ?? [];
    const finish = (node: string, acc: StatsAccumulator) => {
      // A rollup's percentiles come from its raw seconds while they are all still stored.
      if (level.from && percentiles.length > 0) {
        for (const r of this.#stmt.nodeRange.iterate(node, start, start + level.seconds)) {
          const fields = JSON.parse(String(r.data)) as Record<string, FieldValue>;
          for (const k in fields) acc.rawValue(k, fields[k]);
        }
      }
      return acc.window(level, node, start);
    };
    let node: string | null = null;
    let acc = new StatsAccumulator(percentiles);
    for (const row of rows) {
      const n = String(row.node);
      if (n !== node) {
        if (node !== null && !acc.empty) yield finish(node, acc);
        node = n;
        acc = new StatsAccumulator(percentiles);
      }
      if (level.from) {
        const stats = JSON.parse(String(row.stats)) as Record<string, Stats>;
        for (const k in stats) acc.merge(k, stats[k]);
      } else {
        const fields = JSON.parse(String(row.data)) as Record<string, FieldValue>;
        for (const k in fields) acc.add(k, fields[k]);
      }
    }
    if (node !== null && !acc.empty) yield finish(node, acc);
  }

  pendingWindows(limit: number): Promise<Window[]> {
    const rows = this.#db.prepare("SELECT record FROM pending_windows ORDER BY id LIMIT ?").all(
      limit,
    );
    return Promise.resolve(rows.map((r) => JSON.parse(String(r.record)) as Window));
  }

  ackWindows(count: number): Promise<void> {
    this.#db.prepare(
      "DELETE FROM pending_windows WHERE id IN (SELECT id FROM pending_windows ORDER BY id LIMIT ?)",
    ).run(count);
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
    const rows = this.#db.prepare(
      "SELECT ts, data FROM samples WHERE node = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?",
    ).all(q.node, from, to, q.limit ?? QUERY_LIMIT);
    return Promise.resolve(
      rows.map((r) => ({ ts: Number(r.ts) * 1000, fields: JSON.parse(String(r.data)) })),
    );
  }

  nodes(): Promise<string[]> {
    const rows = this.#db.prepare("SELECT DISTINCT node FROM samples ORDER BY node").all();
    return Promise.resolve(rows.map((r) => String(r.node)));
  }

  close(): Promise<void> {
    if (this.#db?.isOpen) this.#db.close();
    this.status.state = "stopped";
    return Promise.resolve();
  }
}
