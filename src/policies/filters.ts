/** pepeunit's order before a value reaches its buffer: active period, filters, transformations. */
import type { Policy } from "./schema.ts";

/** A value as the filters see it. */
export type Value = { type: "Number"; value: number } | { type: "Text"; value: string };

/** What the filters remember of a node between two values. */
export interface FilterMemory {
  /** When the last value was accepted (ms), for max_rate. */
  acceptedAt?: number;
  /** The last accepted value, for last_unique_check. */
  last?: number | string;
}

/** Whether the policy's active period covers `now`. */
export function isActive(policy: Policy, now: number): boolean {
  const p = policy.active_period;
  if (p.type === "Permanent") return true;
  if (p.start !== undefined && p.type !== "ToDate" && now < p.start) return false;
  if (p.end !== undefined && p.type !== "FromDate" && now > p.end) return false;
  return true;
}

/** Whether filters.max_rate refuses a value (or file) of the node at `now`. */
export function rateLimited(policy: Policy, memory: FilterMemory, now: number): boolean {
  const rate = policy.filters?.max_rate;
  return !!rate && memory.acceptedAt !== undefined && now - memory.acceptedAt < rate * 1000;
}

/**
 * Runs a value through the node's filters (max_size is checked for every
 * payload type before); returns the reason it was dropped, or null when it
 * passes. `memory` is updated only for passing values.
 */
export function filterValue(
  policy: Policy,
  value: Value,
  options: { now: number; memory: FilterMemory },
): string | null {
  const f = policy.filters;
  if (!f) return null;
  if (f.type_input_value && f.type_input_value !== value.type) return "wrong_type";
  if (f.type_value_filtering) {
    const listed = f.filtering_values.some((v) => String(v) === String(value.value));
    if (f.type_value_filtering === "WhiteList" && !listed) return "not_in_white_list";
    if (f.type_value_filtering === "BlackList" && listed) return "in_black_list";
  }
  if (f.type_value_threshold && value.type === "Number") {
    const t = f.type_value_threshold;
    if (t !== "Max" && value.value < f.threshold_min!) return "below_threshold";
    if (t !== "Min" && value.value > f.threshold_max!) return "above_threshold";
  }
  const m = options.memory;
  if (rateLimited(policy, m, options.now)) return "rate_limited";
  if (f.last_unique_check && m.last === value.value) return "not_unique";
  m.acceptedAt = options.now;
  m.last = value.value;
  return null;
}

/** Applies the node's transformations (numbers: ratio and rounding; text: slicing). */
export function transform(policy: Policy, value: Value): Value {
  const t = policy.transformations;
  if (!t) return value;
  if (value.type === "Number") {
    let n = value.value;
    if (t.multiplication_ratio !== undefined) n *= t.multiplication_ratio;
    if (t.round_decimal_point !== undefined) n = Number(n.toFixed(t.round_decimal_point));
    return { type: "Number", value: n };
  }
  if (t.slice_start === undefined && t.slice_end === undefined) return value;
  return { type: "Text", value: value.value.slice(t.slice_start ?? 0, t.slice_end) };
}
