/**
 * A payload's own time: devices that stamp their readings are stored at that
 * time (epoch s/ms/us/ns or ISO 8601), checked against the gateway's clock.
 */
import { z } from "zod";
import { duration } from "./config_values.ts";
import type { FieldValue } from "./model.ts";

/** How a time value is written: by magnitude (`auto`), an explicit epoch unit, or ISO 8601. */
export type TimeFormat = "auto" | "s" | "ms" | "us" | "ns" | "iso";

/** Nothing from before this is a real reading (a clock that never synced says 1970). */
export const EARLIEST_TIME = Date.UTC(2000, 0, 1);

const SCALE: Record<"s" | "ms" | "us" | "ns", number> = { s: 1000, ms: 1, us: 1e-3, ns: 1e-6 };

/** Config keys of sources whose payloads may carry their own time. */
export const timeFields = {
  /** JSON keys holding the reading's time, first found wins; `[]` ignores them. */
  time_field: z.union([z.string().min(1), z.array(z.string().min(1))])
    .default(["ts", "time", "timestamp"])
    .transform((v) => (typeof v === "string" ? [v] : v)),
  time_format: z.enum(["auto", "s", "ms", "us", "ns", "iso"]).default("auto"),
  /** A time further ahead of the gateway's clock than this is refused (bad_timestamp). */
  max_future: duration.default(300_000),
};

/** The time settings as parsed. */
export interface TimeSettings {
  time_field: string[];
  time_format: TimeFormat;
  max_future: number;
}

function epochUnit(n: number): "s" | "ms" | "us" | "ns" {
  const a = Math.abs(n);
  if (a < 1e11) return "s"; // seconds until the year 5138
  if (a < 1e14) return "ms";
  if (a < 1e17) return "us";
  return "ns";
}

// ISO 8601 keeps only milliseconds in Date.parse: microseconds are read apart.
const FRACTION = /T\d{2}:?\d{2}:?\d{2}[.,](\d{4,})/;

function parseIso(text: string): number | null {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return null;
  const extra = FRACTION.exec(text)?.[1];
  return extra ? ms + Number(extra.slice(3, 6).padEnd(3, "0")) / 1000 : ms;
}

/** Reads a time value to epoch ms (microseconds kept as a fraction); null when it is not one. */
export function readTime(value: unknown, format: TimeFormat = "auto"): number | null {
  let n: number | null = null;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) n = Number(value);
  else if (typeof value === "string" && format !== "s" && format !== "ms") {
    if (format !== "auto" && format !== "iso") return null;
    return parseIso(value);
  }
  if (n === null || !Number.isFinite(n) || format === "iso") return null;
  const unit = format === "auto" ? epochUnit(n) : format;
  return Math.round(n * SCALE[unit] * 1000) / 1000;
}

/** Why a reading's time cannot be used, or null when it can. */
export function timeProblem(
  ts: number,
  options: { now: number; maxFuture: number },
): string | null {
  if (ts < EARLIEST_TIME) return `${new Date(ts).toISOString()} is before 2000`;
  if (ts > options.now + options.maxFuture) {
    return `${new Date(ts).toISOString()} is more than ${options.maxFuture} ms ahead of the clock`;
  }
  return null;
}

/**
 * Takes the payload's own time out of its fields (the field is not a value).
 * Returns the time, `undefined` when the payload has none, or the problem.
 */
export function takeTime(
  fields: Record<string, FieldValue>,
  options: TimeSettings & { now: number },
): { ts?: number; problem?: string } {
  for (const key of options.time_field) {
    if (!(key in fields)) continue;
    const raw = fields[key];
    delete fields[key];
    const ts = readTime(raw, options.time_format);
    if (ts === null) return { problem: `${key}: ${JSON.stringify(raw)} is not a time` };
    const problem = timeProblem(ts, { now: options.now, maxFuture: options.max_future });
    return problem ? { problem: `${key}: ${problem}` } : { ts };
  }
  return {};
}
