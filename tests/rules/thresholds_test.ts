import assert from "node:assert/strict";
import type { Sample } from "../../src/model.ts";
import { Alerts } from "../../src/rules/alerts.ts";
import { thresholdSchema } from "../../src/rules/schema.ts";
import { Thresholds } from "../../src/rules/thresholds.ts";

const temp = (node: string, v: number, i = 0): Sample => ({
  source: "t",
  node,
  ts: 1000 + i,
  fields: { temperature: v },
});

Deno.test("a value hovering on a threshold raises one event, not a flood (hysteresis)", () => {
  const t = new Thresholds([
    thresholdSchema.parse({
      field: "temperature",
      above: { warn: 80, emergency: 100 },
      hysteresis: 2,
    }),
  ]);
  const values = [70, 80, 79.5, 80.2, 79, 80.1, 78.5, 77.9, 81, 101, 99, 97.5, 50];
  const events = t.evaluate(values.map((v, i) => temp("eq1", v, i)), 0);
  assert.deepEqual(events.map((e) => [e.data.severity, e.data.value]), [
    ["WARN", 80],
    ["ok", 77.9],
    ["WARN", 81],
    ["EMERGENCY", 101],
    ["WARN", 97.5],
    ["ok", 50],
  ]);
  const e = events[0].data;
  assert.equal(e.metric, "temperature");
  assert.equal(e.threshold, 80);
  assert.equal(e.node, "eq1");
  assert.equal(typeof e.event_id, "string");
  assert.ok(e.measured_at && e.detected_at);
});

Deno.test("below-thresholds and node globs; nodes keep their own state", () => {
  const t = new Thresholds([
    thresholdSchema.parse({
      field: "V",
      nodes: ["bmv*"],
      below: { warn: 11.8, emergency: 11.5 },
      hysteresis: 0.1,
    }),
  ]);
  const s = (node: string, v: number): Sample => ({ source: "t", node, ts: 0, fields: { V: v } });
  const events = t.evaluate([
    s("bmv1", 11.7),
    s("mppt1", 10),
    s("bmv2", 12.5),
    s("bmv1", 11.4),
    s("bmv2", 11.79),
  ], 0);
  assert.deepEqual(events.map((e) => [e.node, e.data.severity]), [
    ["bmv1", "WARN"],
    ["bmv1", "EMERGENCY"],
    ["bmv2", "WARN"],
  ]);
});

Deno.test("alerts on the gateway's own figures respect the cool-down", () => {
  const a = new Alerts([{
    name: "influx failing",
    metric: "sinks.influx.failed",
    above: 100,
    cooldown: 60_000,
  }]);
  const status = (failed: number) => ({ gateway_id: "g", sinks: { influx: { failed } } });
  assert.equal(a.evaluate(status(50), 0).length, 0);
  const first = a.evaluate(status(150), 1000);
  assert.equal(first.length, 1);
  assert.equal(first[0].data.value, 150);
  assert.equal(a.evaluate(status(200), 30_000).length, 0, "cooling down");
  assert.equal(a.evaluate(status(250), 62_000).length, 1);
});
