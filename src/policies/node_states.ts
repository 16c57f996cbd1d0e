/**
 * Each node's policy state: all of it in SQLite, the nodes heard lately in
 * memory (bounded), so neither memory nor start-up grows with the number of
 * nodes. Nodes with work due at a time (an Aggregation window ending, a
 * pending LastValue) are found by that time in the table, not by a scan.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { LruMap } from "../util/lru.ts";
import { transaction } from "../util/sqlite.ts";

/** Options of {@link NodeStates}. */
export interface NodeStatesOptions<T> {
  /** States kept in memory at most (the least recently used clean ones are dropped). */
  maxInMemory: number;
  /** When the state next needs a tick (ms), or null. */
  due(state: T): number | null;
}

/** The per-node states of one source's policies. */
export class NodeStates<T> {
  readonly #db: DatabaseSync;
  readonly #memory: LruMap<string, T>;
  readonly #dirty = new Map<string, T>();
  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #due: StatementSync;

  constructor(db: DatabaseSync, readonly options: NodeStatesOptions<T>) {
    this.#db = db;
    db.exec("CREATE TABLE IF NOT EXISTS nodes (node TEXT PRIMARY KEY, state TEXT NOT NULL)");
    const columns = db.prepare("PRAGMA table_info(nodes)").all().map((c) => String(c.name));
    if (!columns.includes("due")) {
      // Files from before `due`: fill it once, so ticks never need to read every state.
      db.exec("ALTER TABLE nodes ADD COLUMN due INTEGER");
      const set = db.prepare("UPDATE nodes SET due = ? WHERE node = ?");
      transaction(db, () => {
        for (const row of db.prepare("SELECT node, state FROM nodes").all()) {
          set.run(options.due(JSON.parse(String(row.state))), String(row.node));
        }
      });
    }
    db.exec("CREATE INDEX IF NOT EXISTS nodes_due ON nodes (due) WHERE due IS NOT NULL");
    this.#get = db.prepare("SELECT state FROM nodes WHERE node = ?");
    this.#put = db.prepare("INSERT OR REPLACE INTO nodes (node, state, due) VALUES (?, ?, ?)");
    this.#due = db.prepare("SELECT node FROM nodes WHERE due <= ? ORDER BY due LIMIT ?");
    this.#memory = new LruMap(options.maxInMemory);
  }

  /** A node's state (from memory, else from the file), or undefined when it has none. */
  get(node: string): T | undefined {
    const held = this.#dirty.get(node) ?? this.#memory.get(node);
    if (held) return held;
    const row = this.#get.get(node);
    if (!row) return undefined;
    const state = JSON.parse(String(row.state)) as T;
    this.#memory.set(node, state);
    return state;
  }

  /** A node's state for changing: created when new; saved by the next {@link commit}. */
  change(node: string, create: () => T): T {
    const state = this.get(node) ?? create();
    this.#dirty.set(node, state);
    this.#memory.set(node, state);
    return state;
  }

  /** Marks a state returned by {@link get} as changed. */
  touch(node: string, state: T): void {
    this.#dirty.set(node, state);
  }

  /** Nodes whose work is due by `now` (changed ones in memory, and saved ones), at most `limit`. */
  due(now: number, limit: number): string[] {
    const out = new Set<string>();
    for (const [node, state] of this.#dirty) {
      const due = this.options.due(state);
      if (due !== null && due <= now) out.add(node);
    }
    for (const row of this.#due.all(now, limit)) {
      const node = String(row.node);
      // A changed state in memory says better than the saved one whether it is due.
      if (!this.#dirty.has(node)) out.add(node);
    }
    return [...out].slice(0, limit);
  }

  /** Writes the changed states in one transaction, with `extra` inside it. */
  commit(extra?: (put: (node: string, state: unknown) => void) => void): void {
    if (this.#dirty.size === 0 && !extra) return;
    const put = (node: string, state: unknown) =>
      this.#put.run(node, JSON.stringify(state), this.options.due(state as T));
    transaction(this.#db, () => {
      for (const [node, state] of this.#dirty) put(node, state);
      extra?.((node, state) => this.#put.run(node, JSON.stringify(state), null));
    });
    this.#dirty.clear();
  }

  /** Changed states not saved yet. */
  get changed(): number {
    return this.#dirty.size;
  }
}
