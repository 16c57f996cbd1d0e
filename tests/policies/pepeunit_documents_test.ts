/**
 * Policy documents as pepeunit writes them (its backend's example documents, and
 * its JSON with null for absent keys) pass; what pepeunit's validator refuses is
 * refused here too, with its wording.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { policySchema } from "../../src/policies/schema.ts";
import { runCli } from "../helpers/cli.ts";

function problems(doc: unknown): string[] {
  const r = policySchema.safeParse(doc);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

// The shapes of pepeunit's example documents (its backend tests): one per policy type.
const EXAMPLES = {
  aggregation: `
active_period: {type: Permanent, start: "2023-11-15T00:00:00Z"}
filters:
  type_input_value: Number
  type_value_filtering: BlackList
  filtering_values: [12.3, 432, 134.5234]
  type_value_threshold: Range
  threshold_min: -60
  threshold_max: 1000000
  max_rate: 0
  last_unique_check: false
  max_size: 50
transformations: {multiplication_ratio: 1, round_decimal_point: 0}
processing_policy: {policy_type: Aggregation, time_window_size: 60, aggregation_functions: Avg}
`,
  last_value: `
active_period: {type: DateRange, start: "2023-11-15T00:00:00Z", end: "2100-11-15T00:00:00Z"}
filters:
  type_input_value: Text
  type_value_filtering: BlackList
  filtering_values: ["one", "two", "three"]
  max_rate: 0
  last_unique_check: true
  max_size: 50
transformations: {slice_start: 0, slice_end: 100}
processing_policy: {policy_type: LastValue}
`,
  n_records: `
active_period: {type: FromDate, start: "2023-11-15T00:00:00Z"}
filters: {type_input_value: Number, type_value_threshold: Min, threshold_min: 0, max_rate: 0,
  last_unique_check: false, max_size: 50}
transformations: {multiplication_ratio: 0.7, round_decimal_point: 3}
processing_policy: {policy_type: NRecords, n_records_count: 100}
`,
  time_window: `
active_period: {type: ToDate, end: "2100-11-15T00:00:00Z"}
filters: {type_input_value: Text, max_rate: 0, last_unique_check: false, max_size: 150}
transformations: {slice_start: 0, slice_end: 100}
processing_policy: {policy_type: TimeWindow, time_window_size: 300}
`,
};

Deno.test("pepeunit's own documents pass, Aggregation's single function included", () => {
  for (const [name, yaml] of Object.entries(EXAMPLES)) {
    assert.deepEqual(problems(parse(yaml)), [], name);
  }
  const agg = policySchema.parse(parse(EXAMPLES.aggregation));
  assert.deepEqual(agg.processing_policy?.aggregation_functions, ["Avg"]);
  // Several functions stay our extension.
  const several = policySchema.parse({
    ...parse(EXAMPLES.aggregation),
    processing_policy: { policy_type: "Aggregation", aggregation_functions: ["Min", "Max"] },
  });
  assert.deepEqual(several.processing_policy?.aggregation_functions, ["Min", "Max"]);
});

Deno.test("documents as pepeunit stores them (JSON, null for absent keys, max_size 0) pass", () => {
  const stored = {
    active_period: { type: "Permanent", start: null, end: null },
    filters: {
      type_input_value: "Number",
      type_value_filtering: null,
      filtering_values: null,
      type_value_threshold: null,
      threshold_min: null,
      threshold_max: null,
      max_rate: 0,
      last_unique_check: false,
      max_size: 0,
    },
    transformations: {
      multiplication_ratio: null,
      round_decimal_point: null,
      slice_start: null,
      slice_end: null,
    },
    processing_policy: {
      policy_type: "NRecords",
      n_records_count: 10,
      time_window_size: null,
      aggregation_functions: null,
    },
  };
  assert.deepEqual(problems(stored), []);
  const p = policySchema.parse(stored);
  assert.equal(p.filters?.max_size, 0);
  assert.deepEqual(p.filters?.filtering_values, []);
  assert.equal(policySchema.parse({ ...stored, transformations: null }).transformations, undefined);
});

Deno.test("what pepeunit's validator refuses is refused, in its words", () => {
  const base = parse(EXAMPLES.n_records);
  const cases: [string, unknown, RegExp][] = [
    [
      "its own bad example",
      parse(`
active_period: {type: DateRange, start: "2023-11-15T00:00:00Z"}
filters: {type_input_value: Text, type_value_filtering: BlackList, filtering_values: [1, 2, 3, 4],
  max_rate: -1, last_unique_check: true, max_size: 50}
processing_policy: {policy_type: LastValue}
`),
      /end must be provided for DateRange[\s\S]*max_rate[\s\S]*filtering_values must be strings/,
    ],
    [
      "a DateRange that ends before it starts",
      {
        ...base,
        active_period: { type: "DateRange", start: "2026-02-01T00:00:00Z", end: "2026-01-01" },
      },
      /start must be before end for DateRange/,
    ],
    [
      "threshold_min >= threshold_max",
      {
        ...base,
        filters: {
          ...base.filters,
          type_value_threshold: "Range",
          threshold_min: 10,
          threshold_max: 10,
        },
      },
      /threshold_min must be less than threshold_max/,
    ],
    [
      "a fractional threshold",
      { ...base, filters: { ...base.filters, threshold_min: 0.5 } },
      /threshold_min: must be a whole number/,
    ],
    [
      "max_rate over a day",
      { ...base, filters: { ...base.filters, max_rate: 86401 } },
      /max_rate/,
    ],
    [
      "max_size over pepeunit's 256 KB payload limit",
      { ...base, filters: { ...base.filters, max_size: 262145 } },
      /max_size must be <= 262144/,
    ],
    [
      "numbers filtering a Text node",
      {
        ...base,
        filters: {
          type_input_value: "Text",
          type_value_filtering: "WhiteList",
          filtering_values: ["on", 1],
          max_rate: 0,
          max_size: 0,
        },
      },
      /filtering_values must be strings for Text input/,
    ],
    [
      "text filtering a Number node",
      {
        ...base,
        filters: { ...base.filters, type_value_filtering: "WhiteList", filtering_values: ["1"] },
      },
      /filtering_values must be numeric for Number input/,
    ],
    [
      "n_records_count beyond 1024",
      { ...base, processing_policy: { policy_type: "NRecords", n_records_count: 1025 } },
      /n_records_count must be between 1 and 1024/,
    ],
    [
      "a window pepeunit does not offer",
      { ...base, processing_policy: { policy_type: "TimeWindow", time_window_size: 120 } },
      /Invalid time_window_size. Must be one of: 60, 300/,
    ],
  ];
  for (const [what, doc, expected] of cases) {
    const found = problems(doc);
    assert.ok(found.length > 0, `${what}: accepted`);
    assert.match(found.join("\n"), expected, what);
  }
  // Thresholds are ignored on Text nodes, as pepeunit ignores them.
  assert.deepEqual(
    problems({
      ...base,
      filters: {
        type_input_value: "Text",
        type_value_threshold: "Range",
        max_rate: 0,
        max_size: 0,
      },
    }),
    [],
  );
});

Deno.test("active_period takes every datetime form pepeunit's validator (pydantic, lax) takes; naive is UTC", () => {
  const base = parse(EXAMPLES.n_records);
  const start = (value: unknown) =>
    policySchema.safeParse({ ...base, active_period: { type: "FromDate", start: value } });
  const T = Date.UTC(2023, 10, 15);
  const accepted: [unknown, number][] = [
    ["2023-11-15T00:00:00", T], // a date exported without an offset
    ["2023-11-15 00:00:00", T],
    ["2023-11-15t00:00", T],
    ["2023-11-15_00:00:00", T],
    ["2023-11-15", T],
    ["2023-11-15T00:00:00Z", T],
    ["2023-11-15T03:00:00+03:00", T],
    ["2023-11-14T21:30:00-0230", T],
    ["2023-11-15T00:00:00.250", T + 250],
    ["2023-11-15T00:00:00.123456", T + 123],
    [T / 1000, T], // Unix seconds
    [T, T], // beyond 2e10: milliseconds
    [String(T / 1000), T],
  ];
  for (const [value, ms] of accepted) {
    const r = start(value);
    assert.ok(r.success, `${JSON.stringify(value)}: ${JSON.stringify(r.error?.issues)}`);
    assert.equal(r.data.active_period.start, ms, JSON.stringify(value));
  }
  for (
    const refused of [
      "2023-11-15T24:00:00",
      "2023-02-30",
      "2023-11-15T00:00:60",
      "15.11.2023",
      "2023-11-15T00",
      "2023-11-15Z",
      "2023-11-15T00:00:00+3",
      "yesterday",
      "",
    ]
  ) {
    const r = start(refused);
    assert.ok(!r.success, JSON.stringify(refused));
    assert.match(r.error.issues[0].message, /expected a datetime like/);
  }
});

Deno.test("check passes a pepeunit document with naive datetimes", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/gateway.yml`,
    `sources:
  units:
    type: mqtt
    url: mqtt://127.0.0.1:1883
    topics: ["pepeunit.local/+/pepeunit"]
    policies:
      default:
        active_period: {type: DateRange, start: 2023-11-15T00:00:00, end: 2100-01-01 00:00:00}
        filters: {type_input_value: Number, max_rate: 0, max_size: 0}
        processing_policy: {policy_type: LastValue}
`,
  );
  const r = await runCli(["check", `${dir}/gateway.yml`]);
  assert.equal(r.code, 0, r.stderr);
});
