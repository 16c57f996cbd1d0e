/**
 * Measured values in /metrics, parsed by a Prometheus text parser: VE.Direct
 * quantities in base units with node/product/serial labels and state enums,
 * every number of other sources (MQTT, POST /ingest), bounded by node count.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { shiftedClock } from "../../src/util/clock.ts";
import { freePort, startMosquitto, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

interface Family {
  name: string;
  type: string;
  help: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

/** The site's clock: noon in June, the simulated battery charging (time-to-go infinite). */
const SUMMER_NOON = shiftedClock(Date.UTC(2026, 5, 21, 12));

/** A Prometheus sample value: a float, or +Inf / -Inf / NaN (which Number() reads as NaN). */
function promFloat(text: string): number {
  return { "+Inf": Infinity, "-Inf": -Infinity, "NaN": NaN }[text] ?? Number(text);
}

Deno.test("/metrics exposes every source's measured values, in base units, bounded", async () => {
  const broker = await startMosquitto();
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(
    parseConfig(
      `gateway: {id: site, data_dir: ${dir}}
http: {port: ${port}, token: t, metrics_max_nodes: 6}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 200ms}
  bmv1: {type: vedirect, simulate: bmv, interval: 200ms, seed: 2}
  units: {type: mqtt, url: "mqtt://127.0.0.1:${broker.port}", topics: ["site/+"], client_id: m}
sinks: {}
`,
      gatewaySchema,
    ),
    { clock: SUMMER_NOON },
  );
  const url = `http://127.0.0.1:${port}`;
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  await agent.start();
  const scrape = async () => {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    const families = parsePrometheusTextFormat(await res.text()) as Family[];
    return new Map(families.map((f) => [f.name, f]));
  };
  try {
    await waitFor(() => agent.control.health().components["mqtt.units"] === "up", {
      what: "mqtt up",
    });
    await pub.publishAsync("site/boiler", JSON.stringify({ temperature: 61.5, pump: true }), {
      qos: 1,
    });
    const ingest = await fetch(`${url}/ingest`, {
      method: "POST",
      headers: { Authorization: "Bearer t", "Content-Type": "application/json" },
      body: JSON.stringify({ node: "lab", fields: { humidity: 41 } }),
    });
    assert.equal(ingest.status, 200, await ingest.text());
    await waitFor(async () => (await scrape()).has("mqtt_value"), { what: "mqtt values" });
    await waitFor(() => agent.sources.get("bmv1")!.status.processed >= 2, { what: "bmv" });
    const m = await scrape();
    const one = (name: string, labels: Record<string, string>, type = "GAUGE") => {
      const f = m.get(name);
      assert.ok(f, `${name} missing`);
      assert.equal(f.type, type, name);
      const hit = f.metrics.find((s) =>
        Object.entries(labels).every(([k, v]) => s.labels?.[k] === v)
      );
      assert.ok(hit, `${name} ${JSON.stringify(labels)}`);
      return { value: promFloat(hit.value), labels: hit.labels! };
    };
    const values = (node: string) =>
      (agent.control.status().sources[node] as unknown as {
        device: { values: Record<string, number> };
      })
        .device.values;

    // VE.Direct: base units, identity labels.
    const v = one("vedirect_battery_voltage_volts", { node: "mppt1" });
    assert.equal(v.labels.product, "SmartSolar MPPT 75/15");
    assert.equal(v.labels.serial, "HQ2132ABCDE");
    assert.ok(v.value > 10 && v.value < 16);
    one("vedirect_panel_power_watts", { node: "mppt1" });
    one("vedirect_battery_current_amperes", { node: "bmv1" });
    const soc = one("vedirect_state_of_charge_ratio", { node: "bmv1" }).value;
    assert.ok(soc > 0 && soc <= 1, `SOC ratio ${soc}`);
    assert.ok(Math.abs(soc - values("bmv1").SOC / 100) < 0.05);
    const ttg = one("vedirect_time_to_go_seconds", { node: "bmv1" }).value;
    // Charging: -1 in VE.Direct, +Inf in Prometheus.
    assert.equal(values("bmv1").TTG, -1);
    assert.equal(ttg, Infinity);
    // Ever-growing totals are counters named _total.
    const yieldJ = one("vedirect_yield_joules_total", { node: "mppt1" }, "COUNTER").value;
    assert.ok(Math.abs(yieldJ - values("mppt1").H19 * 3.6e6) < 3.6e6);
    const cycles = one("vedirect_charge_cycles_total", { node: "bmv1" }, "COUNTER").value;
    assert.equal(cycles, values("bmv1").H4);
    one("vedirect_charged_energy_joules_total", { node: "bmv1" }, "COUNTER");
    one("vedirect_discharged_ampere_hours_total", { node: "bmv1" }, "COUNTER");
    one("vedirect_deepest_discharge_ampere_hours", { node: "bmv1" });
    // The charger state as an enum: one series per state, exactly one at 1.
    const cs = m.get("vedirect_charge_state")!.metrics.filter((s) => s.labels?.node === "mppt1");
    assert.ok(cs.length >= 10);
    assert.equal(cs.filter((s) => s.value === "1").length, 1);
    assert.ok(cs.some((s) => s.labels?.state === "Bulk"));
    // Other sources: every number (booleans as 0/1) by node and field.
    assert.equal(one("mqtt_value", { node: "boiler", field: "temperature" }).value, 61.5);
    assert.equal(one("mqtt_value", { node: "boiler", field: "pump" }).value, 1);
    assert.equal(one("http_value", { node: "lab", field: "humidity" }).value, 41);

    // Bounded: beyond metrics_max_nodes the least recently heard nodes are left out.
    for (let i = 0; i < 20; i++) {
      await pub.publishAsync(`site/n${i}`, String(i), { qos: 1 });
    }
    await waitFor(async () => {
      const f = (await scrape()).get("mqtt_value");
      return f?.metrics.some((s) => s.labels?.node === "n19") ?? false;
    }, { what: "the newest node" });
    const after = await scrape();
    const nodes = new Set(
      [...after.values()].filter((f) => /^(vedirect|mqtt|http)_/.test(f.name))
        .flatMap((f) => f.metrics.map((s) => s.labels?.node)),
    );
    assert.ok(nodes.size <= 6, `nodes in /metrics: ${[...nodes]}`);
  } finally {
    await pub.endAsync();
    await agent.stop();
    await broker.stop();
  }
});
