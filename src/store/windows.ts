import type { FieldValue, Sample, Stats, Window } from "../model.ts";
import type { Level } from "./store.ts";

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
  const first = options.last === null ? lastClosable : options.last + level.seconds;
  return { first, lastClosable };
}

/** Accumulates per-column statistics of numeric values. */
export class StatsAccumulator {
  readonly stats: Record<string, Stats> = {};

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
  }

  /** Combines the statistics of a finer window. */
  merge(column: string, other: Stats): void {
    const s = this.stats[column];
    if (!s) this.stats[column] = { ...other };
    else {
      s.count += other.count;
      s.min = Math.min(s.min, other.min);
      s.max = Math.max(s.max, other.max);
      s.sum += other.sum;
    }
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
