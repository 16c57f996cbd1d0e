/**
 * A rollup's finer windows (`5m from 1m`), node by node, read 1,000 nodes per finer start at a
 * time by a seek on the windows' key (level, start, node): a call that resumes a rollup after
 * its last node reads from there, not the whole range again (one query ordered by node over
 * the range was sorted again by every call of a flood's minute: 250 calls x 1.25M rows).
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Stats } from "../model.ts";
import { byCodePoint } from "./raw_seconds.ts";
import type { Level } from "./store.ts";

/** Nodes read per finer start at a time. */
const CHUNK = 1000;

type Row = { node: string; stats: Record<string, Stats> };

/** Reads the finer windows a rollup is made of. */
export class FinerWindows {
  readonly #stmt: StatementSync;

  constructor(db: DatabaseSync) {
    this.#stmt = db.prepare(
      "SELECT node, stats FROM windows WHERE level = ? AND start = ? AND node >= ? " +
        "ORDER BY node LIMIT ?",
    );
  }

  /**
   * Each node's finer windows in [start, end) (s), oldest first, in SQLite's node order, for
   * the nodes after `after` (every node: null).
   */
  *eachNode(
    from: Level,
    range: { start: number; end: number },
    after: string | null,
  ): Generator<[string, Record<string, Stats>[]]> {
    let cursor = after;
    for (;;) {
      const lists: Row[][] = [];
      let upper: string | null = null;
      for (let s = range.start; s < range.end; s += from.seconds) {
        const rows = this.#stmt.all(from.name, s, cursor ?? "", CHUNK).map((r): Row => ({
          node: String(r.node),
          stats: JSON.parse(String(r.stats)),
        }));
        lists.push(rows);
        // A full list read as far as its last node: nodes past the nearest such are left.
        const last = rows.at(-1)?.node;
        if (rows.length === CHUNK && (upper === null || byCodePoint(last!, upper) < 0)) {
          upper = last!;
        }
      }
      const byNode = new Map<string, Record<string, Stats>[]>();
      for (const rows of lists) {
        for (const { node, stats } of rows) {
          if (cursor !== null && node === cursor) continue; // done by the call before
          if (upper !== null && byCodePoint(node, upper) > 0) continue;
          let subs = byNode.get(node);
          if (!subs) byNode.set(node, subs = []);
          subs.push(stats);
        }
      }
      for (const node of [...byNode.keys()].sort(byCodePoint)) yield [node, byNode.get(node)!];
      if (upper === null) return;
      cursor = upper;
    }
  }
}
