import assert from "node:assert/strict";
import { vedirectMetrics } from "../../../src/sources/vedirect/metrics.ts";

Deno.test("a device without a serial gets no empty serial label", () => {
  const metrics = vedirectMetrics({
    node: "bmv",
    source: "bmv",
    ts: 0,
    tags: { product: "BMV-712 Smart" },
    fields: { V: 12.5 },
  });
  assert.deepEqual(metrics[0].labels, { node: "bmv", product: "BMV-712 Smart" });
});

Deno.test("lifetime totals are counters named _total, counting charge drawn up", () => {
  const metrics = vedirectMetrics({
    node: "bmv",
    source: "bmv",
    ts: 0,
    fields: { H4: 128, H6: -7654.321, H17: 456.78, H19: 12.5, H1: -50, V: 12.5 },
  });
  const byName = new Map(metrics.map((m) => [m.name, m]));
  assert.equal(byName.get("vedirect_charge_cycles_total")?.type, "counter");
  assert.equal(byName.get("vedirect_charge_cycles_total")?.value, 128);
  assert.equal(byName.get("vedirect_discharged_ampere_hours_total")?.value, 7654.321);
  assert.ok(
    Math.abs(byName.get("vedirect_discharged_energy_joules_total")!.value - 456.78 * 3.6e6) < 1e-3,
  );
  assert.equal(byName.get("vedirect_yield_joules_total")?.type, "counter");
  assert.equal(byName.get("vedirect_deepest_discharge_ampere_hours")?.type, "gauge");
  assert.equal(byName.get("vedirect_battery_voltage_volts")?.type, "gauge");
  for (const m of metrics) assert.equal(m.type === "counter", m.name.endsWith("_total"), m.name);
});

Deno.test("scaled values keep the field's resolution: SOC 84.9 % is 0.849, not 0.8490000000000001", () => {
  const metrics = vedirectMetrics({
    node: "bmv",
    source: "bmv",
    ts: 0,
    fields: { SOC: 84.9, DM: 0.7, H22: 0.87, H_BULK: 7, V: 12.345 },
  });
  const byName = new Map(metrics.map((m) => [m.name, m.value]));
  assert.equal(byName.get("vedirect_state_of_charge_ratio"), 0.849);
  assert.equal(String(byName.get("vedirect_midpoint_deviation_ratio")), "0.007");
  assert.equal(byName.get("vedirect_yield_yesterday_joules"), 3_132_000);
  assert.equal(byName.get("vedirect_bulk_today_seconds"), 420);
  assert.equal(byName.get("vedirect_battery_voltage_volts"), 12.345);
});
