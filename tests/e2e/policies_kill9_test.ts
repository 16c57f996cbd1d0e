/**
 * kill -9 of the gateway while MQTT messages flow through storage policies
 * (acknowledged after the outbox commit), 3 times: every published value
 * reaches ClickHouse. Delivery is at least once: a message whose PUBACK was
 * lost with the process comes again, as a row of its own.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { DatabaseSync } from "node:sqlite";
import { spawnGateway } from "../helpers/cli.ts";
import {
  clickhouseQuery,
  freePort,
  startClickHouse,
  startMosquitto,
  waitFor,
} from "../helpers/servers.ts";

const W = "12121212-1212-4121-8121-121212121212"; // TimeWindow: every value is a row
const A = "34343434-3434-4343-8343-343434343434"; // Aggregation: its window survives the kills
const COUNT = 3000;

Deno.test("kill -9 three times while MQTT values flow through policies: every value reaches ClickHouse", async () => {
  // The gateway runs on the real clock: a day's Aggregation window must not end mid-test, so a
  // run that would start in the last minutes before 00:00 UTC starts just after it instead.
  const toMidnight = 86_400_000 - (Date.now() % 86_400_000);
  if (toMidnight < 5 * 60_000) await new Promise((r) => setTimeout(r, toMidnight + 1000));
  // The broker keeps every QoS 1 message for the gateway's session while it is down.
  const broker = await startMosquitto({ config: "max_queued_messages 0\n" });
  const ch = await startClickHouse();
  const dir = await Deno.makeTempDir({ prefix: "policies-kill9-" });
  const port = freePort();
  const configFile = `${dir}/gateway.yml`;
  await Deno.writeTextFile(
    configFile,
    `gateway: {id: k9, data_dir: ${dir}/data}
log: {level: error}
http: {port: ${port}}
sources:
  units:
    type: mqtt
    url: mqtt://127.0.0.1:${broker.port}
    topics: ["pepeunit/+/pepeunit"]
    client_id: k9-units
    ack: commit
    policies:
      nodes:
        ${W}: {processing_policy: {policy_type: TimeWindow, time_window_size: 86400}}
        ${A}: {processing_policy: {policy_type: Aggregation, time_window_size: 86400, aggregation_functions: [Sum]}}
sinks:
  ch: {type: clickhouse, url: "http://127.0.0.1:${ch.port}", max_wait: 50ms, backoff_max: 300ms, timeout: 2s}
`,
  );
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const count = async (sql: string) => Number((await clickhouseQuery(ch.port, sql)).trim());
  let child: Deno.ChildProcess | null = null;
  try {
    // The subscription must exist before publishing, so the broker queues for the session.
    child = spawnGateway(configFile);
    await waitFor(async () => {
      const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
      return health.components["mqtt.units"] === "up";
    }, { what: "gateway subscribed" });
    const publishing = (async () => {
      for (let i = 0; i < COUNT; i++) {
        await pub.publishAsync(`pepeunit/${W}/pepeunit`, String(i), { qos: 1 });
        await pub.publishAsync(`pepeunit/${A}/pepeunit`, "1", { qos: 1 });
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for (let round = 0; round < 3; round++) {
      await waitFor(
        async () => await count(`SELECT count() FROM window_entry`) >= (round + 1) * COUNT / 5,
        { what: `rows before kill ${round + 1}` },
      );
      child.kill("SIGKILL");
      await child.stderr.cancel();
      await child.status;
      child = spawnGateway(configFile);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, {
        what: "gateway back",
      });
    }
    await publishing;
    await waitFor(
      async () => await count(`SELECT uniqExact(state) FROM window_entry`) === COUNT,
      { what: `all ${COUNT} values in window_entry`, timeoutMs: 60_000 },
    );
    const rows = await count(`SELECT count() FROM window_entry`);
    assert.ok(rows >= COUNT, `${rows} rows for ${COUNT} values`);
    // The Aggregation window (a day) is still open: its running count lives in the buffers'
    // file, written after each outbox commit. None of the kills lost a value from it.
    child.kill("SIGTERM");
    await child.stderr.cancel();
    await child.status;
    child = null;
    const db = new DatabaseSync(`${dir}/data/policies-units.db`);
    const row = db.prepare("SELECT state FROM nodes WHERE node = ?").get(A);
    db.close();
    const agg = JSON.parse(String(row!.state)).agg;
    assert.ok(agg.count >= COUNT, `${agg.count} values in the open window, ${COUNT} sent`);
    assert.equal(agg.sum, agg.count);
  } finally {
    await pub.endAsync();
    if (child) {
      child.kill("SIGTERM");
      await child.stderr.cancel().catch(() => {});
      await child.status;
    }
    await Promise.all([broker.stop(), ch.stop()]);
  }
});
