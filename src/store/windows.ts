import type { FieldValue, Sample, Stats, Window } from "../model.ts";
import type { Level } from "./store.ts";
import { MAX_CATCH_UP_MS } from "../util/wall_clock.ts";

/**
 * Windows aggregated this far (s) beyond the last closed one: the clock was followed back over
 * a day (src/util/wall_clock.ts), so the sequence starts again at the clock instead of waiting
 * for that time to come round. A shorter lead (a restart while a step back is caught up) is
 * waited out: those windows were computed already.
 */
export const STATE_AHEAD_S = MAX_CATCH_UP_MS / 1000;

/** Rounds to 14 significant digits: what Redis' cjson keeps, so both stores agree exactly. */
export function round14(x: number): number {
  return Number(x.toPrecision(14));
}

/** Start (s) of the first window not yet aggregated, and of the last closed one. */
export function windowRange(
  level: Level,
  options: { now: number; graceSeconds: number; last: number | null; fromLast?: number | null },
): { first: number; lastClosable: number } {
  const win = level.seconds;
  const nowS = Math.floor(options.now / 1000);
  let lastClosable = Math.floor((nowS - options.graceSeconds) / win) * win - win;
  if (level.from) {
    // A rollup window is complete only once its last sub-window is aggregated.
    if (options.fromLast === null || options.fromLast === undefined) {
      return { first: 0, lastClosable: -1 };
    }
    const limit = Math.floor((options.fromLast + level.from.seconds) / win) * win - win;
    lastClosable = Math.min(lastClosable, limit);
  }
  const restart = options.last === null || options.last > lastClosable + STATE_AHEAD_S;
  const first = restart ? lastClosable : options.last! + level.seconds;
  return { first, lastClosable };
}

/**
 * The q-th percentile of sorted values, interpolated linearly between the two closest
 * ranks (numpy's default). The Lua aggregation computes it with the same arithmetic.
 */
export function percentile(sorted: number[], q: number): number {
  const rank = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** Accumulates per-column statistics of numeric values (and their percentiles when asked). */
export class StatsAccumulator {
  readonly stats: Record<string, Stats> = {};
  /** Raw values per column, kept only when percentiles are configured. */
  #values: Record<string, number[]> = {};
  /** Rollups: sub-windows' percentiles weighted by their counts, [weighted sum, weight]. */
  #weighted: Record<string, Record<number, [number, number]>> = {};

  constructor(readonly percentiles: number[] = []) {}

  /** Adds one raw value. */
  add(column: string, value: FieldValue): void {
    if (typeof value !== "number" || !Number.isFinite(value)) return;
    const s = this.stats[column];
    if (!s) {
      this.stats[column] = { count: 1, min: value, max: value, sum: value, avg: value };
    } else {
      s.count++;
      if (value < s.min) s.min = value;
      if (value > s.max) s.max = value;
      s.sum += value;
    }
    if (this.percentiles.length > 0) this.rawValue(column, value);
  }

  /** A raw value of a rollup's window, read back for exact percentiles. */
  rawValue(column: string, value: FieldValue): void {
    if (typeof value !== "number" || !Number.isFinite(value)) return;
    (this.#values[column] ??= []).push(value);
  }

  /** Combines the statistics of a finer window. */
  merge(column: string, other: Stats): void {
    const s = this.stats[column];
    if (!s) {
      this.stats[column] = {
        count: other.count,
        min: other.min,
        max: other.max,
        sum: other.sum,
        avg: other.avg,
      };
    } else {
      s.count += other.count;
      s.min = Math.min(s.min, other.min);
      s.max = Math.max(s.max, other.max);
      s.sum += other.sum;
    }
    for (const q of this.percentiles) {
      const p = other[`p${q}`];
      if (typeof p !== "number") continue;
      const w = (this.#weighted[column] ??= {})[q] ??= [0, 0];
      w[0] += p * other.count;
      w[1] += other.count;
    }
  }

  /**
   * Percentiles of a column: exact from its raw values when they are all of the window's;
   * otherwise approximate, from the finer windows' percentiles or the raw values left.
   */
  #percentiles(column: string, s: Stats): Partial<Stats> {
    if (this.percentiles.length === 0) return {};
    const out: Partial<Stats> = {};
    const raw = this.#values[column];
    const exact = raw !== undefined && raw.length === s.count;
    const sorted = raw ? [...raw].sort((a, b) => a - b) : [];
    for (const q of this.percentiles) {
      const w = this.#weighted[column]?.[q];
      if (exact) out[`p${q}`] = round14(percentile(sorted, q));
      else if (w && w[1] > 0) out[`p${q}`] = round14(w[0] / w[1]);
      else if (sorted.length > 0) out[`p${q}`] = round14(percentile(sorted, q));
    }
    if (!exact && Object.keys(out).length > 0) out.approx = true;
    return out;
  }

  /** True when no numeric value was seen. */
  get empty(): boolean {
    return Object.keys(this.stats).length === 0;
  }

  /** The finished window (averages computed, numbers rounded as Redis stores them). */
  window(level: Level, node: string, startSeconds: number): Window {
    const stats: Record<string, Stats> = {};
    for (const [k, s] of Object.entries(this.stats)) {
      stats[k] = {
        count: s.count,
        min: round14(s.min),
        max: round14(s.max),
        sum: round14(s.sum),
        avg: round14(s.sum / s.count),
        ...this.#percentiles(k, s),
      };
    }
    return {
      level: level.name,
      node,
      start: startSeconds * 1000,
      end: (startSeconds + level.seconds) * 1000,
      stats,
    };
  }
}

/** The stored JSON of a sample: only the configured columns (all when none are configured). */
export function storedFields(
  sample: Sample,
  columns: string[],
): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  for (const c of columns.length === 0 ? Object.keys(sample.fields) : columns) {
    if (!(c in sample.fields)) continue;
    const v = sample.fields[c];
    // vemonitor_m8 keeps ON/OFF labels (LOAD, Alarm, Relay) as 1/0 in its series.
    out[c] = typeof v === "boolean" ? +v : v;
  }
  return out;
}

/**
 * Groups samples by node and integer second, merging samples of one second
 * (later keys win), as vemonitor_m8 does.
 */
export function groupBySecond(
  samples: Sample[],
  columns: string[],
): Map<string, Map<number, Record<string, FieldValue>>> {
  const byNode = new Map<string, Map<number, Record<string, FieldValue>>>();
  for (const s of samples) {
    let seconds = byNode.get(s.node);
    if (!seconds) byNode.set(s.node, seconds = new Map());
    const sec = Math.floor(s.ts / 1000);
    const fields = storedFields(s, columns);
    const prev = seconds.get(sec);
    seconds.set(sec, prev ? { ...prev, ...fields } : fields);
  }
  return byNode;
}

/** Parses the `levels` config (`1m`, `5m from 1m`) into linked {@link Level}s. */
export function buildLevels(specs: { name: string; seconds: number; from?: string }[]): Level[] {
  const levels: Level[] = [];
  for (const spec of specs) {
    const from = spec.from ? levels.find((l) => l.name === spec.from) : undefined;
    if (spec.from && !from) {
      throw new Error(`window level ${spec.name}: from "${spec.from}" must be listed before it`);
    }
    if (from && spec.seconds % from.seconds !== 0) {
      throw new Error(`window level ${spec.name}: ${from.name} windows do not tile it exactly`);
    }
    levels.push({ name: spec.name, seconds: spec.seconds, from });
  }
  return levels;
}

/** The level named `name`; throws a message naming the configured levels otherwise. */
export function findLevel(levels: Level[], name: string): Level {
  const level = levels.find((l) => l.name === name);
  if (!level) {
    throw new Error(
      `unknown window level "${name}"; configured: ${levels.map((l) => l.name).join(", ")}`,
    );
  }
  return level;
}
