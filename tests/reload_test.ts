/** Hot reload: POST /reload and SIGHUP apply a valid change, refuse an invalid file, lose nothing. */
import assert from "node:assert/strict";
import { Agent } from "../src/agent.ts";
import { loadConfigFile } from "../src/config/load.ts";
import { gatewaySchema } from "../src/config/schema.ts";
import { configureLog } from "../src/log.ts";
import { spawnGateway } from "./helpers/cli.ts";
import { freePort, influxQuery, startInfluxd, startMosquitto, waitFor } from "./helpers/servers.ts";

configureLog({ level: "error" });

const TOKEN = "reload-token";

function config(dir: string, port: number, sinks = "") {
  return `gateway: {id: rl, data_dir: ${dir}/data}
http: {port: ${port}, token: ${TOKEN}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
${sinks ? `sinks:\n${sinks}` : ""}`;
}

const influxSink = (port: number) =>
  `  influx: {type: influxdb, url: "http://127.0.0.1:${port}", database: rl, create_database: true, max_wait: 50ms}\n`;

Deno.test("POST /reload adds a sink without a restart; an invalid file keeps the running config", async () => {
  const influx = await startInfluxd();
  const dir = await Deno.makeTempDir();
  const file = `${dir}/gateway.yml`;
  const port = freePort();
  await Deno.writeTextFile(file, config(dir, port));
  const agent = new Agent(await loadConfigFile(file, gatewaySchema), { configFile: file });
  await agent.start();
  const reload = () =>
    fetch(`http://127.0.0.1:${port}/reload`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}` },
    }).then(async (r) => ({ status: r.status, body: await r.json() }));
  try {
    await waitFor(() => agent.sources.get("mppt1")!.status.processed >= 3, { what: "samples" });
    const source = agent.sources.get("mppt1")!.source;

    await Deno.writeTextFile(file, config(dir, port, influxSink(influx.port)));
    const ok = await reload();
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.changed, ["sink.influx"]);
    assert.deepEqual(ok.body.restart_required, []);
    assert.equal(agent.sources.get("mppt1")!.source, source, "unchanged source kept running");
    await waitFor(async () => {
      const s = await influxQuery(influx.port, {
        db: "rl",
        q: 'SELECT count("V") FROM "vedirect"',
      });
      return Number(s[0]?.values[0]?.[1] ?? 0) >= 3;
    }, { what: "samples through the new sink" });

    await Deno.writeTextFile(file, config(dir, port, influxSink(influx.port)) + "bogus: 1\n");
    const bad = await reload();
    assert.equal(bad.status, 400);
    assert.match(bad.body.errors[0], /unknown key "bogus"/);
    assert.ok(agent.deliveries.has("influx"), "the running config stays in force");
    const status = agent.control.status() as { reload: { ok: boolean; errors: string[] } };
    assert.equal(status.reload.ok, false);
  } finally {
    await agent.stop();
    await influx.stop();
  }
});

Deno.test("a changed sink resumes from its cursor: records buffered across the reload arrive", async () => {
  const influx = await startInfluxd();
  const dir = await Deno.makeTempDir();
  const file = `${dir}/gateway.yml`;
  const port = freePort();
  await Deno.writeTextFile(file, config(dir, port, influxSink(influx.port)));
  const agent = new Agent(await loadConfigFile(file, gatewaySchema), { configFile: file });
  await agent.start();
  try {
    await influx.kill(); // records pile up in the outbox
    await waitFor(() => agent.outbox.depth("influx").records >= 10, { what: "buffered records" });
    await Deno.writeTextFile(
      file,
      config(dir, port, influxSink(influx.port).replace("max_wait: 50ms", "max_wait: 60ms")),
    );
    const r = await agent.control.reload();
    assert.deepEqual(r.changed, ["sink.influx"]);
    await influx.start();
    await agent.sources.get("mppt1")!.source.stop();
    const emitted = agent.sources.get("mppt1")!.status.processed;
    await waitFor(async () => {
      const s = await influxQuery(influx.port, {
        db: "rl",
        q: 'SELECT count("V") FROM "vedirect"',
      });
      return Number(s[0]?.values[0]?.[1] ?? 0) >= emitted;
    }, { what: `all ${emitted} samples after the reload` });
  } finally {
    await agent.stop();
    await influx.stop();
  }
});

Deno.test("SIGHUP reloads a running gateway process", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/gateway.yml`;
  const port = freePort();
  await Deno.writeTextFile(file, config(dir, port));
  const child = spawnGateway(file);
  try {
    const status = async () => await (await fetch(`http://127.0.0.1:${port}/status`)).json();
    await waitFor(async () => (await status()).sources.mppt1?.processed > 0, {
      what: "gateway up",
    });
    await Deno.writeTextFile(
      file,
      config(dir, port).replace(
        "sources:\n",
        "sources:\n  bmv1: {type: vedirect, simulate: bmv, interval: 100ms}\n",
      ),
    );
    child.kill("SIGHUP");
    await waitFor(async () => (await status()).sources.bmv1?.processed > 0, {
      what: "new source after SIGHUP",
    });
    assert.equal((await status()).reload.ok, true);

    // An invalid file on SIGHUP: rejected, reported, the running config stays.
    await Deno.writeTextFile(file, "sources: [not, a, map]\n");
    child.kill("SIGHUP");
    await waitFor(async () => (await status()).reload.ok === false, { what: "rejected reload" });
    const s = await status();
    assert.match(s.reload.errors[0], /^sources: /);
    assert.ok(s.sources.bmv1.processed > 0, "still running with the previous config");
  } finally {
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await child.stderr.cancel();
  }
});

Deno.test("a changed policy document reloads in place: same source, the MQTT session stays", async () => {
  const broker = await startMosquitto();
  const dir = await Deno.makeTempDir();
  const file = `${dir}/gateway.yml`;
  const policies = (n: number) =>
    `gateway: {id: rl, data_dir: ${dir}/data}
http: {enabled: false}
sources:
  units:
    type: mqtt
    url: mqtt://127.0.0.1:${broker.port}
    topics: ["pepeunit/+/pepeunit"]
    policies:
      nodes:
        relay: {processing_policy: {policy_type: NRecords, n_records_count: ${n}}}
`;
  await Deno.writeTextFile(file, policies(5));
  const agent = new Agent(await loadConfigFile(file, gatewaySchema), { configFile: file });
  await agent.start();
  try {
    const source = agent.sources.get("units")!.source;
    await Deno.writeTextFile(file, policies(7));
    const result = await agent.control.reload();
    assert.equal(result.ok, true);
    assert.deepEqual(result.changed, ["source.units"]);
    assert.equal(agent.sources.get("units")!.source, source, "updated in place, not restarted");
    const config = agent.config.sources.units as unknown as {
      policies: { nodes: Record<string, { processing_policy: { n_records_count: number } }> };
    };
    assert.equal(config.policies.nodes.relay.processing_policy.n_records_count, 7);
  } finally {
    await agent.stop();
    await broker.stop();
  }
});
