/** The per-node policy engine: pepeunit's order (active period, filters, transformations, buffer). */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import type { Entry, Envelope } from "../../src/model.ts";
import { Policies } from "../../src/policies/policies.ts";
import { policiesSchema } from "../../src/policies/schema.ts";
import { classify } from "../../src/payload.ts";
import { loadArchivers } from "../../src/policies/archive.ts";

await loadArchivers();

const enc = new TextEncoder();
const T0 = Date.UTC(2026, 10, 23, 6, 0, 0);

function open(nodes: Record<string, unknown>, path?: string): Policies {
  const p = new Policies(policiesSchema.parse({ nodes }), {
    path: path ?? `${Deno.makeTempDirSync()}/policies.db`,
    log: createLogger("test"),
  });
  p.open();
  return p;
}

function send(p: Policies, node: string, payload: string | Uint8Array, now: number) {
  const bytes = typeof payload === "string" ? enc.encode(payload) : payload;
  return p.accept(node, bytes, { payload: classify(bytes), now });
}

function entries(envelopes: Envelope[]): Entry[] {
  return envelopes.filter((e) => e.kind === "entry").map((e) => e.data as Entry);
}

function states(p: Policies, node: string, values: string[], now = T0): (string | number)[] {
  const out: (string | number)[] = [];
  values.forEach((v, i) => {
    const r = send(p, node, v, now + i * 1000);
    if (r.kind === "dropped") out.push(r.reason);
    else if (r.kind === "accepted") {
      for (const e of entries(r.envelopes)) out.push((e as { state: string }).state);
    }
  });
  return out;
}

Deno.test("filters: white/black lists, thresholds, max_rate, last_unique_check, max_size, types", () => {
  const nr = { policy_type: "NRecords", n_records_count: 5 };
  const p = open({
    white: {
      processing_policy: nr,
      filters: { type_value_filtering: "WhiteList", filtering_values: ["on", 1] },
    },
    black: {
      processing_policy: nr,
      filters: { type_value_filtering: "BlackList", filtering_values: ["off"] },
    },
    range: {
      processing_policy: nr,
      filters: { type_value_threshold: "Range", threshold_min: 0, threshold_max: 10 },
    },
    rate: { processing_policy: nr, filters: { max_rate: 2 } },
    unique: { processing_policy: nr, filters: { last_unique_check: true } },
    small: { processing_policy: nr, filters: { max_size: 3, type_input_value: "Number" } },
  });
  assert.deepEqual(states(p, "white", ["on", "off", "1", "2"]), [
    "on",
    "not_in_white_list",
    "1",
    "not_in_white_list",
  ]);
  assert.deepEqual(states(p, "black", ["on", "off"]), ["on", "in_black_list"]);
  assert.deepEqual(states(p, "range", ["-1", "0", "10", "10.5"]), [
    "below_threshold",
    "0",
    "10",
    "above_threshold",
  ]);
  // One value per 2 s: values arrive every second.
  assert.deepEqual(states(p, "rate", ["1", "2", "3", "4"]), [
    "1",
    "rate_limited",
    "3",
    "rate_limited",
  ]);
  assert.deepEqual(states(p, "unique", ["a", "a", "b", "a"]), ["a", "not_unique", "b", "a"]);
  // type_input_value is no filter (pepeunit keeps "abc" on a Number node, as text).
  assert.deepEqual(states(p, "small", ["123", "1234", "abc"]), [
    "123",
    "over_max_size",
    "abc",
  ]);
  assert.deepEqual(send(p, "nobody", "1", T0), { kind: "unpoliced" });
});

Deno.test("transformations: ratio and rounding for numbers, slicing for text", () => {
  const nr = { policy_type: "NRecords" };
  const p = open({
    num: {
      processing_policy: nr,
      transformations: { multiplication_ratio: 0.001, round_decimal_point: 2 },
    },
    text: { processing_policy: nr, transformations: { slice_start: 2, slice_end: 5 } },
  });
  assert.deepEqual(states(p, "num", ["12345", "7"]), ["12.35", "0.01"]);
  assert.deepEqual(states(p, "text", ["abcdefgh"]), ["cde"]);
});

Deno.test("active period: FromDate, ToDate and DateRange bound when values are taken", () => {
  const nr = { policy_type: "NRecords" };
  const p = open({
    from: {
      processing_policy: nr,
      active_period: { type: "FromDate", start: "2026-11-23T06:00:02Z" },
    },
    to: { processing_policy: nr, active_period: { type: "ToDate", end: "2026-11-23T06:00:01Z" } },
    range: {
      processing_policy: nr,
      active_period: {
        type: "DateRange",
        start: "2026-11-23T06:00:01Z",
        end: "2026-11-23T06:00:02Z",
      },
    },
    off: { enabled: false, processing_policy: nr },
  });
  assert.deepEqual(states(p, "from", ["1", "2", "3"]), ["inactive", "inactive", "3"]);
  assert.deepEqual(states(p, "to", ["1", "2", "3"]), ["1", "2", "inactive"]);
  assert.deepEqual(states(p, "range", ["1", "2", "3", "4"]), ["inactive", "2", "3", "inactive"]);
  assert.deepEqual(send(p, "off", "1", T0), { kind: "unpoliced" });
  assert.throws(
    () => policiesSchema.parse({ nodes: { x: { active_period: { type: "DateRange" } } } }),
    /start/,
  );
});

Deno.test("types per policy: JSON is text to pepeunit, text never aggregated, files need a file policy", () => {
  const p = open({
    n: { processing_policy: { policy_type: "NRecords" } },
    w: { processing_policy: { policy_type: "TimeWindow" } },
    a: { processing_policy: { policy_type: "Aggregation" } },
  });
  const stored = (r: ReturnType<typeof send>) =>
    entries((r as { envelopes: Envelope[] }).envelopes).map((e) => [
      (e as { state: string }).state,
      (e as { state_type: string }).state_type,
    ]);
  // Stored as received, with the state_type pepeunit's readers know (Number or Text).
  assert.deepEqual(stored(send(p, "n", '{"t": 21.5, "on": true}', T0)), [
    ['{"t": 21.5, "on": true}', "Text"],
  ]);
  assert.deepEqual(stored(send(p, "w", '{"t": 1}', T0)), [['{"t": 1}', "Text"]]);
  assert.deepEqual(stored(send(p, "n", "{broken", T0 + 1)), [["{broken", "Text"]]);
  assert.deepEqual(stored(send(p, "n", "85.00", T0 + 2)), [["85.00", "Number"]]);
  assert.deepEqual(send(p, "a", "hello", T0), {
    kind: "dropped",
    reason: "text_not_accepted_by_Aggregation",
  });
  assert.deepEqual(send(p, "n", new Uint8Array([0, 1, 2, 0xff]), T0), {
    kind: "dropped",
    reason: "binary_not_accepted",
  });
  assert.throws(
    () =>
      policiesSchema.parse({
        nodes: { x: { processing_policy: { policy_type: "Aggregation" }, file_policy: {} } },
      }),
    /aggregated/,
  );
  assert.throws(
    () =>
      policiesSchema.parse({
        nodes: { x: { processing_policy: { policy_type: "TimeWindow", time_window_size: 61 } } },
      }),
    /Must be one of: 60/,
  );
});

Deno.test("Aggregation: epoch-aligned windows, only ended ones; a restart mid-window loses nothing", () => {
  const dir = Deno.makeTempDirSync();
  const doc = {
    a: {
      processing_policy: {
        policy_type: "Aggregation",
        time_window_size: 300,
        aggregation_functions: ["Min", "Max", "Avg", "Sum"],
      },
    },
  };
  let p = open(doc, `${dir}/p.db`);
  const start = Math.floor(T0 / 300_000) * 300_000;
  send(p, "a", "4", start + 10_000);
  send(p, "a", "8", start + 20_000);
  assert.deepEqual(p.tick(start + 299_999), [], "the window has not ended");
  p.commit();
  p.close();
  p = open(doc, `${dir}/p.db`); // restart mid-window
  send(p, "a", "3", start + 250_000);
  // A value of the next window ends the previous one at once.
  const r = send(p, "a", "100", start + 300_000);
  const rows = entries((r as { envelopes: Envelope[] }).envelopes) as Extract<
    Entry,
    { table: "aggregation_entry" }
  >[];
  assert.deepEqual(rows.map((e) => [e.aggregation_type, e.state, e.start, e.end, e.size]), [
    ["Min", 3, start, start + 300_000, 3],
    ["Max", 8, start, start + 300_000, 0],
    ["Avg", 5, start, start + 300_000, 0],
    ["Sum", 15, start, start + 300_000, 0],
  ]);
  const next = entries(p.tick(start + 600_000)) as Extract<Entry, { table: "aggregation_entry" }>[];
  assert.deepEqual(next.map((e) => [e.aggregation_type, e.state, e.start]), [
    ["Min", 100, start + 300_000],
    ["Max", 100, start + 300_000],
    ["Avg", 100, start + 300_000],
    ["Sum", 100, start + 300_000],
  ]);
  assert.deepEqual(p.tick(start + 900_000), [], "empty windows make no rows");
  p.close();
});

Deno.test("LastValue: one write per interval, the latest wins, pending survives a restart", () => {
  const dir = Deno.makeTempDirSync();
  const doc = { l: { processing_policy: { policy_type: "LastValue", write_interval: "10s" } } };
  let p = open(doc, `${dir}/p.db`);
  assert.deepEqual(states(p, "l", ["a", "b", "c"]), ["a"]);
  p.commit();
  p.close();
  p = open(doc, `${dir}/p.db`);
  assert.deepEqual(p.tick(T0 + 9_000), []);
  const due = entries(p.tick(T0 + 10_000));
  assert.deepEqual(
    due.map((e) => [(e as { state: string }).state, (e as { max_count: number }).max_count]),
    [["c", 1]],
  );
  assert.deepEqual(p.tick(T0 + 30_000), []);
  p.close();
});

Deno.test("rows of one node never share a timestamp; rows put back survive a restart", () => {
  const dir = Deno.makeTempDirSync();
  const doc = { n: { processing_policy: { policy_type: "NRecords" } } };
  let p = open(doc, `${dir}/p.db`);
  const ts = [1, 2, 3].map((v) =>
    entries((send(p, "n", String(v), T0) as { envelopes: Envelope[] }).envelopes)[0].ts
  );
  assert.deepEqual(ts, [T0, T0 + 1, T0 + 2]);
  const refused = (send(p, "n", "4", T0) as { envelopes: Envelope[] }).envelopes;
  assert.equal(p.putBack(refused), 0);
  p.commit();
  p.close();
  p = open(doc, `${dir}/p.db`);
  assert.deepEqual(p.tick(T0 + 1000), refused);
  assert.deepEqual(p.tick(T0 + 2000), []);
  assert.equal(p.storedBytes("n"), 4);
  p.close();
});
