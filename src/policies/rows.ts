/**
 * The rows a node's processing policy makes of one accepted value, as
 * pepeunit's tables hold them: LastValue (at most one per write_interval, the
 * latest waiting), NRecords, TimeWindow, and Aggregation windows (accumulated
 * in the node's state, rows once the window has ended).
 */
import type { Entry, Envelope } from "../model.ts";
import type { Policy } from "./schema.ts";
import type { Accumulator, NodeState } from "./state.ts";

const UTF8 = new TextEncoder();

/** What {@link valueRows} needs besides the node and its value's text. */
export interface ValueRowOptions {
  rule: NonNullable<Policy["processing_policy"]>;
  /** The state_type (type_input_value, or the content's). */
  type: "Number" | "Text";
  /** The value as Go's ParseFloat reads it (Aggregation takes finite numbers only). */
  number: number | null;
  now: number;
  /** The message's bytes (counted to an Aggregation window). */
  size: number;
  /** The node's state: its last stamp was given to this value, the buffers change. */
  state: NodeState;
}

/** The rows one value makes now (an ended Aggregation window's included); updates the state. */
export function valueRows(node: string, text: string, options: ValueRowOptions): Envelope[] {
  const { rule, type, now, state: s } = options;
  const ts = s.lastTs;
  // pepeunit's size is the stored state's length in bytes.
  const size = UTF8.encode(text).length;
  const entry = (data: Entry): Envelope => ({ kind: "entry", data });
  switch (rule.policy_type) {
    case "LastValue": {
      const row: Entry = {
        table: "n_last_entry",
        node,
        ts,
        state: text,
        state_type: type,
        max_count: 1,
        size,
      };
      if (s.writtenAt === undefined || now - s.writtenAt >= rule.write_interval) {
        s.writtenAt = now;
        s.pending = s.pendingDue = undefined;
        return [entry(row)];
      }
      s.pending = row;
      s.pendingDue = s.writtenAt + rule.write_interval;
      return [];
    }
    case "NRecords":
      return [entry({
        table: "n_last_entry",
        node,
        ts,
        state: text,
        state_type: type,
        max_count: rule.n_records_count,
        size,
      })];
    case "TimeWindow":
      return [entry({
        table: "window_entry",
        node,
        ts,
        state: text,
        state_type: type,
        expires: ts + rule.time_window_size * 1000,
        size,
      })];
    case "Aggregation": {
      const n = options.number!;
      const out: Envelope[] = [];
      if (s.agg && now >= s.agg.end) {
        out.push(...windowRows(node, s.agg));
        s.agg = undefined;
      }
      const window = rule.time_window_size * 1000;
      const start = Math.floor(now / window) * window;
      const a = s.agg ??= {
        start,
        end: start + window,
        window: rule.time_window_size,
        functions: [...new Set(rule.aggregation_functions)],
        count: 0,
        sum: 0,
        min: n,
        max: n,
        bytes: 0,
      };
      a.count++;
      a.sum += n;
      a.min = Math.min(a.min, n);
      a.max = Math.max(a.max, n);
      a.bytes += options.size;
      return out;
    }
  }
}

/** Rows of an ended Aggregation window: one per function; the payload bytes on the first. */
export function windowRows(node: string, a: Accumulator): Envelope[] {
  const values = { Avg: a.sum / a.count, Min: a.min, Max: a.max, Sum: a.sum };
  return a.functions.map((f, i): Envelope => ({
    kind: "entry",
    data: {
      table: "aggregation_entry",
      node,
      ts: a.end,
      state: values[f],
      aggregation_type: f,
      time_window_size: a.window,
      start: a.start,
      end: a.end,
      size: i === 0 ? a.bytes : 0,
    },
  }));
}
