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

/**
 * Runs a value through the node's filters; returns the reason it was dropped,
 * or null when it passes. `memory` is updated only for passing values.
 */
export function filterValue(
  policy: Policy,
  value: Value,
  options: { size: number; now: number; memory: FilterMemory },
): string | null {
  const f = policy.filters;
  if (!f) return null;
  if (f.max_size !== undefined && options.size > f.max_size) return "over_max_size";
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
  if (f.max_rate && m.acceptedAt !== undefined && options.now - m.acceptedAt < f.max_rate * 1000) {
    return "rate_limited";
  }
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
