/** Anomaly, alert and summary events reach a webhook and MQTT through the outbox. */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { freePort, startMosquitto, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

const TOKEN = "events-token";

Deno.test("threshold crossings on /ingest become anomaly events at a webhook and on MQTT; alerts cool down", async () => {
  const broker = await startMosquitto();
  const received: Record<string, unknown>[] = [];
  let failNext = 2; // the webhook fails at first: events wait in the outbox and are retried
  const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    if (failNext-- > 0) return new Response("busy", { status: 503 });
    received.push(body);
    return new Response(null, { status: 204 });
  });
  const hookUrl = `http://127.0.0.1:${(hook.addr as Deno.NetAddr).port}/events`;
  const got: Record<string, unknown>[] = [];
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  sub.on("message", (_t, p) => got.push(JSON.parse(p.toString())));
  await sub.subscribeAsync("alarms/#");
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(parseConfig(
    `gateway: {id: site, data_dir: ${dir}}
http: {port: ${port}, token: ${TOKEN}}
events:
  thresholds:
    - {field: temperature, above: {warn: 80, emergency: 100}, hysteresis: 2}
  alerts:
    - {name: uplink down, metric: sinks.dead.failed, above: 2, cooldown: 1h}
  check_every: 100ms
  summary_every: 300ms
sinks:
  hook: {type: webhook, url: "${hookUrl}", max_wait: 10ms, backoff_min: 50ms, backoff_max: 100ms}
  mqtt: {type: mqtt, url: "mqtt://127.0.0.1:${broker.port}", forward: [event], topic: "alarms/{node}/{field}", max_wait: 10ms}
  dead: {type: influxdb, url: "http://127.0.0.1:9", database: d, backoff_min: 20ms, backoff_max: 40ms}
`,
    gatewaySchema,
  ));
  await agent.start();
  try {
    for (const [i, v] of [70, 85, 84, 83, 105, 60].entries()) {
      const res = await fetch(`http://127.0.0.1:${port}/ingest`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          equipment_id: "EQ-1",
          facility_id: "F-9",
          measured_at: 1_767_225_600_000 + i,
          temperature: v,
        }),
      });
      assert.equal(res.status, 200);
    }
    const anomalies = () => received.filter((r) => String(r.type).startsWith("anomaly"));
    await waitFor(() => anomalies().length === 3, { what: "anomaly events at the webhook" });
    assert.deepEqual(anomalies().map((r) => [r.severity, r.value]), [["WARN", 85], [
      "EMERGENCY",
      105,
    ], ["ok", 60]]);
    const first = anomalies()[0];
    assert.equal(first.node, "EQ-1");
    assert.equal(first.facility_id, "F-9");
    assert.equal(first.metric, "temperature");
    assert.equal(first.threshold, 80);
    assert.equal(first.gateway, "site");
    await waitFor(() => got.filter((m) => String(m.type).startsWith("anomaly")).length === 3, {
      what: "anomaly events on MQTT",
    });
    // The alert on the failing sink fires once (cool-down); the summary when data was saved.
    await waitFor(() => received.some((r) => r.type === "alert"), { what: "alert" });
    // The six samples are in one summary, or in several when the posts spanned periods (a loaded
    // machine; how many is timing): every sample counted once.
    const saved = () => received.filter((r) => r.type === "data_saved");
    const total = () => saved().reduce((n, r) => n + (r.records as number), 0);
    await waitFor(() => total() >= 6, { what: "the summaries" });
    const before = saved().length;
    // As DataLake: a period that saved nothing sends no "data saved" (two more periods pass).
    await new Promise((r) => setTimeout(r, 700));
    const summaries = saved();
    assert.equal(summaries.length, before);
    assert.equal(total(), 6, "every sample counted once");
    assert.ok(summaries.every((r) => (r.records as number) > 0));
    assert.equal(received.filter((r) => r.type === "alert").length, 1);
    const alert = received.find((r) => r.type === "alert")!;
    assert.equal(alert.alert, "uplink down");
    assert.ok((alert.value as number) > 2);
  } finally {
    await agent.stop();
    await sub.endAsync(true);
    await hook.shutdown();
    await broker.stop();
  }
});
