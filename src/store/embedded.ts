import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { FieldValue, Sample, Stats, Window } from "../model.ts";
import { ComponentStatus } from "../status.ts";
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
  #rows = new Map<string, number>();
  #stmt!: Record<string, StatementSync>;

  constructor(readonly path: string, readonly options: StoreOptions) {}

  open(): Promise<void> {
    this.#db = new DatabaseSync(this.path);
    this.#db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16000;");
    this.#db.exec(SCHEMA);
    const db = this.#db;
    this.#stmt = {
      insert: db.prepare("INSERT OR IGNORE INTO samples (node, ts, data) VALUES (?, ?, ?)"),
      select: db.prepare("SELECT data FROM samples WHERE node = ? AND ts = ?"),
      update: db.prepare("UPDATE samples SET data = ? WHERE node = ? AND ts = ?"),
      trim: db.prepare(
        "DELETE FROM samples WHERE node = ? AND ts <= (SELECT ts FROM samples WHERE node = ? " +
          "ORDER BY ts DESC LIMIT 1 OFFSET ?)",
      ),
      range: db.prepare(
        "SELECT node, ts, data FROM samples WHERE ts >= ? AND ts < ? ORDER BY node, ts",
      ),
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
    for (const row of db.prepare("SELECT node, COUNT(*) AS n FROM samples GROUP BY node").all()) {
      this.#rows.set(String(row.node), Number(row.n));
    }
    this.status.state = "up";
    this.status.info.path = this.path;
    return Promise.resolve();
  }

  #transaction<T>(fn: () => T): T {
    this.#db.exec("BEGIN");
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  write(samples: Sample[]): Promise<void> {
    const grouped = groupBySecond(samples, this.options.columns);
    const { insert, select, update, trim } = this.#stmt;
    try {
      this.#transaction(() => {
        for (const [node, seconds] of grouped) {
          let rows = this.#rows.get(node) ?? 0;
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
      const expired = Math.floor(now / 1000) - this.options.archiveTtlSeconds;
      this.#db.prepare("DELETE FROM windows WHERE level = ? AND start < ?").run(
        level.name,
        expired,
      );
    });
    this.status.count("windows_" + level.name, written);
    return Promise.resolve({ windows: written, more: end < lastClosable });
  }

  #compute(level: Level, start: number): Window[] {
    const acc = new Map<string, StatsAccumulator>();
    const get = (node: string) => {
      let a = acc.get(node);
      if (!a) acc.set(node, a = new StatsAccumulator());
      return a;
    };
    if (!level.from) {
      for (const row of this.#stmt.range.all(start, start + level.seconds)) {
        const a = get(String(row.node));
        const fields = JSON.parse(String(row.data)) as Record<string, FieldValue>;
        for (const k in fields) a.add(k, fields[k]);
      }
    } else {
      for (const row of this.#stmt.windowsIn.all(level.from.name, start, start + level.seconds)) {
        const a = get(String(row.node));
        const stats = JSON.parse(String(row.stats)) as Record<string, Stats>;
        for (const k in stats) a.merge(k, stats[k]);
      }
    }
    return [...acc].filter(([, a]) => !a.empty).map(([node, a]) => a.window(level, node, start));
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
    return Promise.resolve([...this.#rows.keys()].sort());
  }

  close(): Promise<void> {
    if (this.#db?.isOpen) this.#db.close();
    this.status.state = "stopped";
    return Promise.resolve();
  }
}
