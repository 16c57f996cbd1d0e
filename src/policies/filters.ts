/** pepeunit's order before a value reaches its buffer: active period, filters, transformations. */
import { goFixed, parseGoFloat } from "./go_float.ts";
import type { Policy } from "./schema.ts";

/**
 * A value as pepeunit's data pipe sees it: the payload text as received, the number it
 * parses as (if any), and its state_type (type_input_value; by content without one).
 */
export interface Value {
  text: string;
  number: number | null;
  type: "Number" | "Text";
}

/** What the filters remember of a node between two values. */
export interface FilterMemory {
  /** When the last value was accepted (ms), for max_rate. */
  acceptedAt?: number;
  /** The last accepted value as received, for last_unique_check. */
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
 * Runs a value through the node's filters in pepeunit's order (lists, thresholds,
 * max_rate, last_unique_check; max_size is checked for every payload before); returns
 * the reason it was dropped, or null when it passes. `memory` changes only for passing values.
 */
export function filterValue(
  policy: Policy,
  value: Value,
  options: { now: number; memory: FilterMemory },
): string | null {
  const f = policy.filters;
  if (!f) return null;
  if (f.type_value_filtering) {
    // A Number node compares numbers (10 and "10.0" are one value); a Text node the text.
    const listed = f.filtering_values.some((v) =>
      typeof v === "number" && value.type === "Number"
        ? value.number !== null && v === value.number
        : String(v) === value.text
    );
    if (f.type_value_filtering === "WhiteList" && !listed) return "not_in_white_list";
    if (f.type_value_filtering === "BlackList" && listed) return "in_black_list";
  }
  // Thresholds judge whatever parses as a number; pepeunit lets other text through.
  if (f.type_value_threshold && value.number !== null) {
    const t = f.type_value_threshold;
    if (t !== "Max" && f.threshold_min !== undefined && value.number < f.threshold_min) {
      return "below_threshold";
    }
    if (t !== "Min" && f.threshold_max !== undefined && value.number > f.threshold_max) {
      return "above_threshold";
    }
  }
  const m = options.memory;
  if (rateLimited(policy, m, options.now)) return "rate_limited";
  // As pepeunit's docs say: the previous value as received (its code compares the transformed).
  if (f.last_unique_check && m.last === value.text) return "not_unique";
  m.acceptedAt = options.now;
  m.last = value.text;
  return null;
}

/**
 * The node's transformations as pepeunit applies them to the text: a Number node's
 * ratio (Go's `%f`, six decimals) then rounding (`%.Nf`), the text kept when it is not a
 * number; a Text node's slice (Python-like indices, by characters as its docs say).
 */
export function transform(policy: Policy, value: Value): string {
  const t = policy.transformations;
  let text = value.text;
  if (!t) return text;
  if (value.type === "Number") {
    if (t.multiplication_ratio !== undefined) {
      const n = parseGoFloat(text);
      if (n === null) return text;
      text = goFixed(n * t.multiplication_ratio, 6);
    }
    if (t.round_decimal_point !== undefined) {
      const n = parseGoFloat(text);
      if (n === null) return text;
      text = goFixed(n, t.round_decimal_point);
    }
    return text;
  }
  if (t.slice_start === undefined && t.slice_end === undefined) return text;
  const chars = Array.from(text);
  const at = (i: number | undefined, fallback: number) =>
    i === undefined ? fallback : Math.min(chars.length, Math.max(0, i < 0 ? chars.length + i : i));
  const start = at(t.slice_start, 0);
  const end = at(t.slice_end, chars.length);
  return start < end ? chars.slice(start, end).join("") : "";
}
