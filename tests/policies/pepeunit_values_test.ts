/**
 * Values stored as pepeunit's data pipe stores them, row for row: the same message
 * sequences, our rows against rows produced by pepeunit_data_pipe's own Go code
 * (internal/datapipe/filters and transformations at 638bbf4, run with Go 1.19 over
 * these cases; the harness was not committed). Each row: [state, state_type, size].
 */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import type { Entry, Envelope } from "../../src/model.ts";
import { goFixed, parseGoFloat } from "../../src/policies/go_float.ts";
import { Policies } from "../../src/policies/policies.ts";
import { policiesSchema } from "../../src/policies/schema.ts";
import { classify } from "../../src/payload.ts";
import { loadArchivers } from "../../src/policies/archive.ts";

await loadArchivers();

interface Case {
  name: string;
  filters: Record<string, unknown>;
  transformations?: Record<string, unknown>;
  messages: string[];
  rows: ("dropped" | [string, string, number])[];
}

// Rows as pepeunit_data_pipe (Go) produced them.
const CASES: Case[] = [
  {
    "name": "ratio_round_min",
    "filters": {
      "type_input_value": "Number",
      "type_value_threshold": "Min",
      "threshold_min": 0,
      "max_rate": 0,
      "max_size": 0,
    },
    "transformations": { "multiplication_ratio": 0.7, "round_decimal_point": 3 },
    "messages": ["12", "0.5", "-3", "85.00", "abc", "1e3", "2.5", "100.0005"],
    "rows": [
      ["8.400", "Number", 5],
      ["0.350", "Number", 5],
      "dropped",
      ["59.500", "Number", 6],
      ["abc", "Number", 3],
      ["700.000", "Number", 7],
      ["1.750", "Number", 5],
      ["70.000", "Number", 6],
    ],
  },
  {
    // Go's ParseFloat grammar: hex floats and underscores are numbers; surrounding space,
    // out-of-range and malformed text stay verbatim (rows of Go 1.19 running the pipe's code).
    "name": "go_grammar",
    "filters": { "type_input_value": "Number", "max_rate": 0, "max_size": 0 },
    "transformations": { "multiplication_ratio": 0.7, "round_decimal_point": 3 },
    "messages": ["0x1p-2", "1_000", "1e400", " 12", "Inf", "-infinity", "NaN", "0x10", "1__0"],
    "rows": [
      ["0.175", "Number", 5],
      ["700.000", "Number", 7],
      ["1e400", "Number", 5],
      [" 12", "Number", 3],
      ["+Inf", "Number", 4],
      ["-Inf", "Number", 4],
      ["NaN", "Number", 3],
      ["0x10", "Number", 4],
      ["1__0", "Number", 4],
    ],
  },
  {
    "name": "round_half_even",
    "filters": { "type_input_value": "Number", "max_rate": 0, "max_size": 0 },
    "transformations": { "round_decimal_point": 0 },
    "messages": ["0.5", "1.5", "2.5", "-0.5", "3.4999", "2.675"],
    "rows": [["0", "Number", 1], ["2", "Number", 1], ["2", "Number", 1], ["-0", "Number", 2], [
      "3",
      "Number",
      1,
    ], ["3", "Number", 1]],
  },
  {
    "name": "blacklist_numbers",
    "filters": {
      "type_input_value": "Number",
      "type_value_filtering": "BlackList",
      "filtering_values": [12.3, 432, 134.5234],
      "type_value_threshold": "Range",
      "threshold_min": -60,
      "threshold_max": 1000000,
      "max_rate": 0,
      "max_size": 50,
    },
    "transformations": { "multiplication_ratio": 1, "round_decimal_point": 0 },
    "messages": ["12.3", "432", "41", "-61", "134.5234", "7.5"],
    "rows": ["dropped", "dropped", ["41", "Number", 2], "dropped", "dropped", ["8", "Number", 1]],
  },
  {
    "name": "whitelist_number_forms",
    "filters": {
      "type_input_value": "Number",
      "type_value_filtering": "WhiteList",
      "filtering_values": [10],
      "max_rate": 0,
      "max_size": 0,
    },
    "messages": ["10.0", "10", "11", "1e1", "ten"],
    "rows": [
      ["10.0", "Number", 4],
      ["10", "Number", 2],
      "dropped",
      ["1e1", "Number", 3],
      "dropped",
    ],
  },
  {
    "name": "text_list_unique",
    "filters": {
      "type_input_value": "Text",
      "type_value_filtering": "WhiteList",
      "filtering_values": ["on", "off"],
      "max_rate": 0,
      "last_unique_check": true,
      "max_size": 0,
    },
    "messages": ["on", "on", "off", "x", "off", "on"],
    "rows": [["on", "Text", 2], "dropped", ["off", "Text", 3], "dropped", "dropped", [
      "on",
      "Text",
      2,
    ]],
  },
  {
    "name": "text_slice",
    "filters": { "type_input_value": "Text", "max_rate": 0, "max_size": 150 },
    "transformations": { "slice_start": 0, "slice_end": 5 },
    "messages": ["hello world", "abc", '{"t": 21.5}', "85.00"],
    "rows": [["hello", "Text", 5], ["abc", "Text", 3], ['{"t":', "Text", 5], ["85.00", "Text", 5]],
  },
  {
    "name": "text_slice_negative",
    "filters": { "type_input_value": "Text", "max_rate": 0, "max_size": 0 },
    "transformations": { "slice_start": -4, "slice_end": -1 },
    "messages": ["abcdefgh", "ab"],
    "rows": [["efg", "Text", 3], ["a", "Text", 1]],
  },
  {
    "name": "text_threshold",
    "filters": {
      "type_input_value": "Text",
      "type_value_threshold": "Max",
      "threshold_max": 5,
      "max_rate": 0,
      "max_size": 0,
    },
    "messages": ["3", "7", "seven"],
    "rows": [["3", "Text", 1], "dropped", ["seven", "Text", 5]],
  },
  {
    "name": "max_size",
    "filters": { "type_input_value": "Text", "max_rate": 0, "max_size": 4 },
    "messages": ["1234", "12345"],
    "rows": [["1234", "Text", 4], "dropped"],
  },
  {
    "name": "ratio_small",
    "filters": { "type_input_value": "Number", "max_rate": 0, "max_size": 0 },
    "transformations": { "multiplication_ratio": 0.1, "round_decimal_point": 1 },
    "messages": ["215", "-40.04", "850", "0.25", "0.35"],
    "rows": [["21.5", "Number", 4], ["-4.0", "Number", 4], ["85.0", "Number", 4], [
      "0.0",
      "Number",
      3,
    ], ["0.0", "Number", 3]],
  },
  {
    "name": "ratio_only",
    "filters": { "type_input_value": "Number", "max_rate": 0, "max_size": 0 },
    "transformations": { "multiplication_ratio": 0.3 },
    "messages": ["1", "2", "3", "1e-7", "-0"],
    "rows": [["0.300000", "Number", 8], ["0.600000", "Number", 8], ["0.900000", "Number", 8], [
      "0.000000",
      "Number",
      8,
    ], ["-0.000000", "Number", 9]],
  },
];

const T0 = Date.UTC(2026, 10, 23, 6);

Deno.test("the same messages give the rows pepeunit's data pipe stores", () => {
  const nodes = Object.fromEntries(CASES.map((c) => [c.name, {
    filters: c.filters,
    transformations: c.transformations,
    processing_policy: { policy_type: "NRecords", n_records_count: 100 },
  }]));
  const p = new Policies(policiesSchema.parse({ nodes }), {
    path: `${Deno.makeTempDirSync()}/policies.db`,
    log: createLogger("test"),
  });
  p.open();
  const enc = new TextEncoder();
  for (const c of CASES) {
    const rows = c.messages.map((m, i) => {
      const bytes = enc.encode(m);
      const r = p.accept(c.name, bytes, { payload: classify(bytes), now: T0 + i * 1000 });
      if (r.kind !== "accepted") return "dropped";
      const e = (r.envelopes as Envelope[]).find((e) => e.kind === "entry")!.data as Extract<
        Entry,
        { table: "n_last_entry" }
      >;
      return [e.state, e.state_type, e.size];
    });
    assert.deepEqual(rows, c.rows, c.name);
  }
  p.close();
});

Deno.test("Aggregation windows and functions are pepeunit's: epoch-aligned, a value at the boundary opens the next", () => {
  // pepeunit_data_pipe's AggregationBuffer (its own file, with its database stubbed) fed the same
  // values at W + 0, 10, 59.999, 60 and 61 s; its rows, times relative to W:
  const GO: Record<string, [number, number, number][]> = {
    Avg: [[5, 0, 60000], [53.75, 60000, 120000]],
    Min: [[3, 0, 60000], [7.5, 60000, 120000]],
    Max: [[8, 0, 60000], [100, 60000, 120000]],
    Sum: [[15, 0, 60000], [107.5, 60000, 120000]],
  };
  const p = new Policies(
    policiesSchema.parse({
      nodes: {
        agg: {
          filters: { type_input_value: "Number", max_rate: 0, max_size: 0 },
          processing_policy: {
            policy_type: "Aggregation",
            time_window_size: 60,
            aggregation_functions: ["Avg", "Min", "Max", "Sum"],
          },
        },
      },
    }),
    { path: `${Deno.makeTempDirSync()}/policies.db`, log: createLogger("test") },
  );
  p.open();
  const W = Math.floor(T0 / 60_000) * 60_000;
  const enc = new TextEncoder();
  const rows: Extract<Entry, { table: "aggregation_entry" }>[] = [];
  for (
    const [at, v] of [[0, "4"], [10_000, "8"], [59_999, "3"], [60_000, "100"], [61_000, "7.5"]]
  ) {
    const bytes = enc.encode(v as string);
    const r = p.accept("agg", bytes, { payload: classify(bytes), now: W + (at as number) });
    if (r.kind === "accepted") {
      rows.push(
        ...(r.envelopes as Envelope[]).map((e) => e.data as never),
      );
    }
  }
  rows.push(...p.tick(W + 120_000).map((e) => e.data as never));
  p.close();
  for (const [fn, expected] of Object.entries(GO)) {
    const ours = rows.filter((r) => r.aggregation_type === fn).map((
      r,
    ) => [r.state, r.start - W, r.end - W]);
    assert.deepEqual(ours, expected, fn);
  }
});

Deno.test("numbers print as Go's fmt prints them: six decimals for %f, exact halves to even", () => {
  // Go 1.19: fmt.Sprintf("%.0f", x), ("%.2f", x), ("%f", x).
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, 3.5].map((x) => goFixed(x, 0)), [
    "0",
    "2",
    "2",
    "-0",
    "4",
  ]);
  assert.equal(goFixed(2.675, 2), "2.67"); // 2.67499999999999982236431605997495353221893310546875
  assert.equal(goFixed(1.005, 2), "1.00");
  assert.equal(goFixed(0.125, 2), "0.12"); // an exact half in binary: to even
  assert.equal(goFixed(0.375, 2), "0.38");
  assert.equal(goFixed(1e21, 1), "1000000000000000000000.0");
  assert.equal(goFixed(-0, 6), "-0.000000");
  assert.equal(goFixed(Infinity, 2), "+Inf");
  assert.deepEqual(["12", "1e3", ".5", "-0.5", "Inf", "0x10", "", " 1"].map(parseGoFloat), [
    12,
    1000,
    0.5,
    -0.5,
    Infinity,
    null,
    null,
    null,
  ]);
});

Deno.test("where pepeunit's code departs from its docs, the docs are followed", () => {
  const p = new Policies(
    policiesSchema.parse({
      nodes: {
        // Slicing by characters: pepeunit's code slices bytes and can cut a UTF-8 character.
        text: {
          filters: { type_input_value: "Text", max_rate: 0, max_size: 0 },
          transformations: { slice_start: 0, slice_end: 5 },
          processing_policy: { policy_type: "NRecords" },
        },
        // last_unique_check compares with the previous value as received (its code: transformed).
        unique: {
          filters: {
            type_input_value: "Number",
            last_unique_check: true,
            max_rate: 0,
            max_size: 0,
          },
          transformations: { multiplication_ratio: 2 },
          processing_policy: { policy_type: "NRecords" },
        },
      },
    }),
    { path: `${Deno.makeTempDirSync()}/policies.db`, log: createLogger("test") },
  );
  p.open();
  const enc = new TextEncoder();
  const state = (node: string, m: string, i: number) => {
    const bytes = enc.encode(m);
    const r = p.accept(node, bytes, { payload: classify(bytes), now: T0 + i * 1000 });
    return r.kind === "accepted"
      ? ((r.envelopes as Envelope[])[0].data as { state: string }).state
      : r.kind;
  };
  assert.equal(state("text", "héllo wörld", 0), "héllo");
  assert.deepEqual(["2", "4", "4"].map((m, i) => state("unique", m, i)), [
    "4.000000",
    "8.000000",
    "dropped",
  ]);
  p.close();
});
