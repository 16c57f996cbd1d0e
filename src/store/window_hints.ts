/**
 * What the Redis store knows of its windows without reading them back: hints
 * (statistics of what this gateway wrote, so the aggregation script rarely
 * decodes every sample again) and the decoding of an archived window's hash.
 */
import type { FieldValue, Stats } from "../model.ts";
import type { Level } from "./store.ts";
import { StatsAccumulator } from "./windows.ts";

/** Window hints kept at most (per node and window: a flood of nodes must not grow memory). */
const MAX_HINTS = 100_000;

interface Hint {
  stats: StatsAccumulator;
  /** Distinct seconds accumulated. */
  seconds: number;
  last: number;
  /** False once a second arrived out of order (it may repeat one already counted). */
  clean: boolean;
}

/**
 * Statistics of what this gateway wrote, per raw level, window and node. The
 * aggregation script uses them only when they cover every stored second of a
 * window, so decoding every sample again is the exception, not the rule.
 */
export class WindowHints {
  #byLevel = new Map<string, Map<number, Map<string, Hint>>>();
  /** Hints held; beyond MAX_HINTS new nodes get none (the script reads their samples instead). */
  #count = 0;

  constructor(readonly levels: Level[]) {
    for (const l of levels) this.#byLevel.set(l.name, new Map());
  }

  /** Accounts for seconds just written (per node, in time order). */
  record(grouped: Map<string, Map<number, Record<string, FieldValue>>>): void {
    for (const level of this.levels) {
      const byStart = this.#byLevel.get(level.name)!;
      for (const [node, seconds] of grouped) {
        for (const [sec, fields] of seconds) {
          const start = sec - (sec % level.seconds);
          let nodes = byStart.get(start);
          if (!nodes) byStart.set(start, nodes = new Map());
          let h = nodes.get(node);
          if (!h) {
            if (this.#count >= MAX_HINTS) continue;
            this.#count++;
            nodes.set(
              node,
              h = { stats: new StatsAccumulator(), seconds: 0, last: -1, clean: true },
            );
          }
          if (sec <= h.last) h.clean = false;
          if (!h.clean) continue;
          h.last = sec;
          h.seconds++;
          for (const k in fields) h.stats.add(k, fields[k]);
        }
      }
    }
  }

  /** Script arguments: W node seconds C (name count min max sum)*C, for clean hints. */
  args(level: Level): (string | number)[] {
    const out: (string | number)[] = [];
    for (const [start, nodes] of this.#byLevel.get(level.name) ?? []) {
      for (const [node, h] of nodes) {
        if (!h.clean) continue;
        const cols = Object.entries(h.stats.stats);
        out.push(start, node, h.seconds, cols.length);
        for (const [col, st] of cols) out.push(col, st.count, st.min, st.max, st.sum);
      }
    }
    return out;
  }

  /** Drops hints of windows up to `stop` (aggregated). */
  forget(level: Level, stop: number): void {
    const byStart = this.#byLevel.get(level.name);
    for (const [start, nodes] of byStart ?? []) {
      if (start > stop) continue;
      this.#count -= nodes.size;
      byStart!.delete(start);
    }
  }
}

/** Rebuilds per-column statistics from an archive hash. */
export function statsFromHash(hash: Record<string, string>): Record<string, Stats> {
  const stats: Record<string, Stats> = {};
  for (const [field, value] of Object.entries(hash)) {
    const m = /^(.+)_(min|max|sum|count|avg|p\d+|approx)$/.exec(field);
    if (!m) continue;
    const s = stats[m[1]] ??= { count: 0, min: 0, max: 0, sum: 0, avg: 0 };
    if (m[2] === "approx") s.approx = true;
    else (s as unknown as Record<string, number>)[m[2]] = Number(value);
  }
  return stats;
}
