/**
 * The Grafana dashboards in dashboards/ work on what the gateway really writes:
 * every InfluxQL panel query (Grafana's macros filled in) returns rows from
 * influxd fed by the gateway, and every Prometheus panel names families that
 * the gateway's /metrics carries with samples.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Agent } from "../src/agent.ts";
import { parseConfig } from "../src/config/load.ts";
import { gatewaySchema } from "../src/config/schema.ts";
import { configureLog } from "../src/log.ts";
import { freePort, influxQuery, startInfluxd, waitFor } from "./helpers/servers.ts";

configureLog({ level: "error" });

const ROOT = new URL("../", import.meta.url).pathname;

interface Dashboard {
  templating: { list: { name: string; query: string | { query: string } }[] };
  panels: { title: string; targets: { query?: string; expr?: string }[] }[];
}

async function dashboard(file: string): Promise<Dashboard> {
  return JSON.parse(await Deno.readTextFile(`${ROOT}dashboards/${file}`));
}

/** A query as Grafana sends it: the last hour, 1m intervals, every device. */
function grafana(query: string): string {
  return query.replaceAll("$timeFilter", "time > now() - 1h")
    .replaceAll("$__interval", "1m")
    .replaceAll("/^$node$/", "/^.*$/");
}

Deno.test("every panel of both dashboards shows data the gateway wrote", async () => {
  const influx = await startInfluxd();
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(parseConfig(
    `gateway: {id: site, data_dir: ${dir}}
http: {port: ${port}}
store: {type: embedded, windows: [{level: 1m}, {level: 5m, from: 1m}]}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 200ms}
  bmv1: {type: vedirect, simulate: bmv, interval: 200ms, seed: 2}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: solar,
    create_database: true, forward: [sample, window], max_wait: 50ms}
`,
    gatewaySchema,
  ));
  await agent.start();
  try {
    await agent.aggregateNow(); // windows from here on
    const count = async () =>
      (await influxQuery(influx.port, {
        db: "solar",
        q: 'SELECT count("V") FROM "vedirect" GROUP BY "node"',
      })).length;
    await waitFor(async () => await count() === 2, { what: "both devices in InfluxDB" });
    // Close the current 5-minute window (a clock ahead for the aggregator only).
    const block = Math.floor(Date.now() / 300_000) * 300_000;
    await agent.aggregateNow(block + 300_000 + 11_000);
    await agent.control.sync();

    const influxBoard = await dashboard("solar-influxdb.json");
    const nodes = await influxQuery(influx.port, {
      db: "solar",
      q: influxBoard.templating.list[0].query as string,
    });
    assert.deepEqual(nodes[0].values.map((v) => v[1]).sort(), ["bmv1", "mppt1"]);
    for (const panel of influxBoard.panels) {
      for (const t of panel.targets) {
        const series = await influxQuery(influx.port, { db: "solar", q: grafana(t.query!) });
        const values = series.flatMap((s) => s.values.flatMap((row) => row.slice(1)));
        assert.ok(
          values.some((v) => v !== null),
          `${panel.title}: no rows for ${grafana(t.query!)}`,
        );
      }
    }

    const promBoard = await dashboard("solar-prometheus.json");
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const families = new Map(
      (parsePrometheusTextFormat(text) as { name: string; metrics: unknown[] }[])
        .map((f) => [f.name, f.metrics.length]),
    );
    const exprs = [
      ...promBoard.panels.flatMap((p) => p.targets.map((t) => [p.title, t.expr!])),
      ["node variable", (promBoard.templating.list[0].query as { query: string }).query],
    ];
    for (const [title, expr] of exprs) {
      const names = [...expr.matchAll(/\b((?:vedirect|edge)_[a-z_]+)/g)].map((m) => m[1]);
      assert.ok(names.length > 0, `${title}: ${expr}`);
      for (const name of names) {
        assert.ok((families.get(name) ?? 0) > 0, `${title}: ${name} has no samples in /metrics`);
      }
    }
  } finally {
    await agent.stop();
    await influx.stop();
  }
});

Deno.test("the InfluxDB dashboard shows a time to go of -1 (charging) as ∞, as the page does", async () => {
  const d = await dashboard("solar-influxdb.json") as unknown as {
    panels: {
      targets: { query?: string }[];
      fieldConfig?: {
        overrides: {
          matcher: { options: string };
          properties: { id: string; value: { options: Record<string, { text: string }> }[] }[];
        }[];
      };
    }[];
  };
  const columns = d.panels.filter((p) =>
    p.targets.some((t) => /AS "time to go/.test(t.query ?? ""))
  );
  assert.ok(columns.length > 0, "a panel shows time to go");
  for (const p of columns) {
    const ttg = p.fieldConfig?.overrides.find((o) => o.matcher.options.startsWith("time to go"));
    const mapping = ttg?.properties.find((q) => q.id === "mappings")?.value[0];
    assert.equal(mapping?.options["-1"]?.text, "∞");
  }
});
