/** MQTT -> per-node storage policies -> outbox -> real clickhouse-server 18.16 and s3rver. */
import { shiftedClock, systemClock } from "../../../src/util/clock.ts";
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import mqtt from "mqtt";
import { Agent } from "../../../src/agent.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { gatewaySchema } from "../../../src/config/schema.ts";
import { configureLog, createLogger } from "../../../src/log.ts";
import type { Envelope } from "../../../src/model.ts";
import { clickhouseSchema, ClickHouseSink } from "../../../src/sinks/clickhouse/mod.ts";
import { nodeUuid } from "../../../src/names.ts";
import type { MqttSource } from "../../../src/sources/mqtt/mod.ts";
import { ComponentStatus } from "../../../src/status.ts";
import { WorkerBatches } from "../../../src/delivery/mod.ts";
import {
  clickhouseQuery,
  objectKeys,
  readObject,
  s3rverClient,
  startClickHouse,
  startMosquitto,
  startS3rver,
  waitFor,
} from "../../helpers/servers.ts";
import type { Server } from "../../helpers/server.ts";

configureLog({ level: "error" });

const N = "11111111-1111-4111-8111-111111111111"; // NRecords 5
const W = "22222222-2222-4222-8222-222222222222"; // TimeWindow 60 s
const A = "33333333-3333-4333-8333-333333333333"; // Aggregation 60 s
const L = "44444444-4444-4444-8444-444444444444"; // LastValue every 300 ms
const F = "55555555-5555-4555-8555-555555555555"; // files: NRecords 2, gzip
const G = "99999999-9999-4999-8999-999999999999"; // Number, ratio and rounding: Go's ParseFloat

/** Payloads for G and the rows pepeunit's Go pipe makes of them (Go 1.19, its transformations). */
const GO_ROWS: [string, string][] = [
  ["0x1p-2", "0.175"],
  ["1_000", "700.000"],
  ["1e400", "1e400"],
  [" 12", " 12"],
  ["-infinity", "-Inf"],
  ["abc", "abc"],
];

function config(dir: string, ports: { mqtt: number; ch: number; s3: number }): string {
  return `gateway: {id: t, data_dir: ${dir}}
http: {enabled: false}
sources:
  units:
    type: mqtt
    url: mqtt://127.0.0.1:${ports.mqtt}
    topics: ["pepeunit/+/pepeunit"]
    client_id: policies-test
    max_wait: 10ms
    policies:
      tick: 100ms
      nodes:
        ${N}: {processing_policy: {policy_type: NRecords, n_records_count: 5}}
        ${W}: {processing_policy: {policy_type: TimeWindow, time_window_size: 60}, filters: {type_input_value: Text}}
        ${A}:
          processing_policy: {policy_type: Aggregation, time_window_size: 60, aggregation_functions: [Avg, Min, Max, Sum]}
          transformations: {multiplication_ratio: 2}
        ${L}: {processing_policy: {policy_type: LastValue, write_interval: 300ms}}
        ${F}: {processing_policy: {policy_type: NRecords, n_records_count: 2}, file_policy: {compression: gzip, level: 9}}
        ${G}:
          processing_policy: {policy_type: NRecords, n_records_count: 20}
          filters: {type_input_value: Number}
          transformations: {multiplication_ratio: 0.7, round_decimal_point: 3}
sinks:
  ch: {type: clickhouse, url: "http://127.0.0.1:${ports.ch}", max_wait: 50ms, retention_every: 300ms, backoff_min: 100ms, backoff_max: 300ms}
  s3: {type: s3, url: "http://127.0.0.1:${ports.s3}", bucket: unit-files, access_key: S3RVER, secret_key: S3RVER, max_wait: 50ms, backoff_max: 300ms}
`;
}

async function rows(port: number, sql: string): Promise<string[][]> {
  const text = await clickhouseQuery(port, `${sql} FORMAT TSV`);
  return text.trim() === "" ? [] : text.trim().split("\n").map((l) => l.split("\t"));
}

async function policiesEndToEnd(ch: Server): Promise<void> {
  const broker = await startMosquitto();
  const s3 = await startS3rver();
  const dir = await Deno.makeTempDir();
  // The gateway's minute starts a second after the test does: the Aggregation window cannot end
  // by itself while the test runs, whatever the second of the run (it is ended by a tick).
  const clock = shiftedClock(Math.ceil(Date.now() / 60_000) * 60_000 + 1000);
  const agent = new Agent(
    parseConfig(config(dir, { mqtt: broker.port, ch: ch.port, s3: s3.port }), gatewaySchema),
    { clock },
  );
  await agent.start();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const send = (node: string, payload: string | Uint8Array) =>
    pub.publishAsync(`pepeunit/${node}/pepeunit`, payload as string, { qos: 1 });
  try {
    for (let i = 1; i <= 12; i++) await send(N, String(i));
    await send(W, "open");
    await send(W, "42"); // a number on a Text node: kept as text, as pepeunit keeps it
    for (const v of [1, 2, 3, 10]) await send(A, String(v));
    for (let i = 1; i <= 5; i++) await send(L, `state-${i}`);
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, ...new Array(200).fill(7)]);
    for (let i = 0; i < 3; i++) await send(F, jpeg.map((b, j) => j === 10 ? i : b));
    await send(N, new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1])); // an image on a value policy
    for (const [payload] of GO_ROWS) await send(G, payload);

    // NRecords: the newest 5 of 12 stay.
    await waitFor(async () => {
      const r = await rows(
        ch.port,
        `SELECT state FROM n_last_entry FINAL WHERE unit_node_uuid = '${N}' ORDER BY create_datetime, create_ms`,
      );
      return r.map((x) => x[0]).join(",") === "8,9,10,11,12";
    }, { what: "NRecords trimmed to 5" });
    const sizes = await rows(
      ch.port,
      `SELECT max_count, size FROM n_last_entry WHERE unit_node_uuid = '${N}' ORDER BY create_datetime, create_ms`,
    );
    assert.deepEqual(sizes.map((r) => r.join(" ")), ["5 1", "5 1", "5 2", "5 2", "5 2"]);

    // A Number node with transformations stores what pepeunit's Go pipe stores, row for row.
    await waitFor(async () => {
      const r = await rows(
        ch.port,
        `SELECT state FROM n_last_entry FINAL WHERE unit_node_uuid = '${G}' ORDER BY create_datetime, create_ms`,
      );
      return r.length === GO_ROWS.length;
    }, { what: "the Go-grammar rows" });
    assert.deepEqual(
      await rows(
        ch.port,
        `SELECT state, state_type FROM n_last_entry FINAL WHERE unit_node_uuid = '${G}' ORDER BY create_datetime, create_ms`,
      ),
      GO_ROWS.map(([, state]) => [state, "Number"]),
    );

    // TimeWindow: rows expiring 60 s after they were made; the number is text on a Text node.
    const w = await rows(
      ch.port,
      `SELECT state, state_type, expiration_datetime - create_datetime FROM window_entry WHERE unit_node_uuid = '${W}' ORDER BY create_datetime, create_ms`,
    );
    assert.deepEqual(w, [["open", "Text", "60"], ["42", "Text", "60"]]);

    // LastValue: the first write at once, the latest after its interval.
    await waitFor(async () => {
      const r = await rows(
        ch.port,
        `SELECT state FROM n_last_entry FINAL WHERE unit_node_uuid = '${L}'`,
      );
      return r.length === 1 && r[0][0] === "state-5";
    }, { what: "LastValue holds the latest state" });

    // Aggregation: nothing until the window ends; then Avg/Min/Max/Sum of the doubled values.
    assert.deepEqual(await rows(ch.port, `SELECT count() FROM aggregation_entry`), [["0"]]);
    const source = agent.sources.get("units")!.source as MqttSource;
    await source.tick(clock.now() + 60_000);
    await waitFor(
      async () => (await rows(ch.port, "SELECT count() FROM aggregation_entry"))[0][0] === "4",
      { what: "aggregation rows" },
    );
    const agg = await rows(
      ch.port,
      `SELECT aggregation_type, state, time_window_size, end_window_datetime - start_window_datetime, toUnixTimestamp(start_window_datetime) % 60, size FROM aggregation_entry WHERE unit_node_uuid = '${A}' ORDER BY aggregation_type`,
    );
    assert.deepEqual(agg, [
      ["Avg", "8", "60", "60", "0", "5"],
      ["Min", "2", "60", "60", "0", "0"],
      ["Max", "20", "60", "60", "0", "0"],
      ["Sum", "32", "60", "60", "0", "0"],
    ]);

    // Files: two ring slots in S3 (the third file overwrote slot 0), gzip, metadata rows.
    const client = s3rverClient(s3.port);
    await waitFor(
      async () =>
        (await objectKeys(client, "unit-files")).join(",") === `${F}/n/0.jpg.gz,${F}/n/1.jpg.gz`,
      {
        what: "two file slots",
      },
    );
    const body = gunzipSync(await readObject(client, "unit-files", `${F}/n/0.jpg.gz`));
    assert.equal(body.length, 204);
    assert.equal(body[10], 2, "slot 0 holds the third file");
    await waitFor(async () => {
      const r = await rows(
        ch.port,
        `SELECT object_key, state_type, size FROM file_entry FINAL WHERE unit_node_uuid = '${F}' ORDER BY create_datetime, create_ms`,
      );
      return JSON.stringify(r) ===
        JSON.stringify([[`${F}/n/1.jpg.gz`, "Image", "204"], [`${F}/n/0.jpg.gz`, "Image", "204"]]);
    }, { what: "file rows trimmed to 2" });

    // Drops are counted per node with the reason.
    const nodes = (agent.control.status().sources as Record<
      string,
      { nodes: Record<string, { dropped: Record<string, number>; stored_bytes: number }> }
    >).units.nodes;
    assert.deepEqual(nodes[W].dropped, {});
    assert.deepEqual(nodes[N].dropped, { image_not_accepted: 1 });
    assert.equal(nodes[N].stored_bytes, 9 * 1 + 3 * 2);
    assert.equal(nodes[F].stored_bytes, 3 * 204);

    // Stored bytes per node from ClickHouse.
    const billed = await rows(
      ch.port,
      `SELECT toString(u), sum(s) FROM (
      SELECT unit_node_uuid AS u, size AS s FROM n_last_entry FINAL
      UNION ALL SELECT unit_node_uuid, size FROM window_entry FINAL
      UNION ALL SELECT unit_node_uuid, size FROM aggregation_entry FINAL
      UNION ALL SELECT unit_node_uuid, size FROM file_entry FINAL) GROUP BY u ORDER BY u`,
    );
    assert.deepEqual(billed, [[N, "8"], [W, "6"], [A, "5"], [L, "7"], [F, "408"], [G, "27"]]);
  } finally {
    await pub.endAsync();
    await agent.stop();
    await Promise.all([broker.stop(), s3.stop()]);
  }
}

/** `workers`: the sink runs in a Worker (gateway.delivery_workers), in a database of its own. */
async function clickhouseOutage(ch: Server, workers: boolean): Promise<void> {
  const db = workers ? "outage_w" : "outage";
  const broker = await startMosquitto();
  const dir = await Deno.makeTempDir();
  const X = "66666666-6666-4666-8666-666666666666";
  const Y = "77777777-7777-4777-8777-777777777777";
  const T = "88888888-8888-4888-8888-888888888888";
  const agent = new Agent(parseConfig(
    `gateway: {id: t, data_dir: ${dir}, delivery_workers: ${workers}}
http: {enabled: false}
sources:
  units:
    type: mqtt
    url: mqtt://127.0.0.1:${broker.port}
    topics: ["pepeunit/+/pepeunit"]
    client_id: policies-outage-${db}
    max_wait: 10ms
    policies:
      nodes:
        ${X}: {processing_policy: {policy_type: NRecords, n_records_count: 3}}
        ${Y}: {processing_policy: {policy_type: NRecords, n_records_count: 1000}, filters: {max_size: 16}}
        ${T}: {processing_policy: {policy_type: TimeWindow, time_window_size: 3600}}
sinks:
  ch: {type: clickhouse, url: "http://127.0.0.1:${ch.port}", max_wait: 50ms, batch_size: 100, retention_every: 200ms, database: ${db}, backoff_min: 100ms, backoff_max: 300ms, timeout: 2s}
`,
    gatewaySchema,
  ));
  await agent.start();
  assert.equal(agent.host.deliveries.get("ch")!.options.batches instanceof WorkerBatches, workers);
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const send = (node: string, payload: string) =>
    pub.publishAsync(`pepeunit/${node}/pepeunit`, payload, { qos: 1 });
  try {
    await send(Y, "0");
    await waitFor(
      async () => (await rows(ch.port, `SELECT count() FROM ${db}.n_last_entry`))[0][0] === "1",
      { what: "first row" },
    );
    await ch.kill();
    for (let i = 1; i <= 300; i++) {
      await send(X, String(i));
      await send(Y, String(i));
      await send(T, `t${i}`);
      if (i % 50 === 0) {
        await send(Y, "{not json");
        await send(Y, '{"a": "this is longer than sixteen bytes"}');
        await send(T, '{"json": "text to pepeunit"}');
      }
    }
    await waitFor(() => agent.outbox.depth("ch").records >= 900, {
      what: "rows waiting in the outbox",
    });
    await ch.start();
    await waitFor(async () => {
      const r = await rows(
        ch.port,
        `SELECT count() FROM ${db}.window_entry WHERE unit_node_uuid = '${T}'`,
      );
      return r[0][0] === "306";
    }, { what: "306 window rows" });
    await waitFor(async () => {
      const r = await rows(
        ch.port,
        `SELECT count(), uniqExact(create_datetime, create_ms), min(toUInt32OrZero(state)), max(toUInt32OrZero(state)), countIf(state = '{not json') FROM ${db}.n_last_entry WHERE unit_node_uuid = '${Y}'`,
      );
      return r[0].join(" ") === "307 307 0 300 6";
    }, { what: "307 rows of Y (the broken JSON is text to pepeunit), each once" });
    const t = await rows(
      ch.port,
      `SELECT count(), uniqExact(state) FROM ${db}.window_entry WHERE unit_node_uuid = '${T}'`,
    );
    assert.deepEqual(t, [["306", "301"]]);
    // X keeps its own 3, Y its 1000 (a shared buffer would have applied one to both).
    await waitFor(async () => {
      const r = await rows(
        ch.port,
        `SELECT state FROM ${db}.n_last_entry FINAL WHERE unit_node_uuid = '${X}' ORDER BY create_datetime, create_ms`,
      );
      return r.map((x) => x[0]).join(",") === "298,299,300";
    }, { what: "X trimmed to 3" });
    const nodes = (agent.control.status().sources as Record<
      string,
      { nodes: Record<string, { dropped: Record<string, number> }> }
    >).units.nodes;
    assert.deepEqual(nodes[Y].dropped, { over_max_size: 6 });
    assert.deepEqual(nodes[T].dropped, {});
    assert.equal(agent.control.health().components["clickhouse.ch"], "up");
  } finally {
    await pub.endAsync();
    await agent.stop();
    await broker.stop();
  }
}

async function retentionWithoutTtl(ch: Server): Promise<void> {
  const status = new ComponentStatus("ch", "clickhouse");
  const sink = new ClickHouseSink(
    clickhouseSchema.parse({
      type: "clickhouse",
      url: `http://127.0.0.1:${ch.port}`,
      database: "units",
      retention_every: "1h",
    }),
    { name: "ch", gatewayId: "t", log: createLogger("test"), status, clock: systemClock },
  );
  try {
    await sink.connect();
    assert.equal(sink.dialect, "legacy");
    assert.equal(status.info.server, "18.16.1");
    const now = Date.now();
    const row = (node: string, ts: number, expires: number): Envelope => ({
      kind: "entry",
      data: {
        table: "window_entry",
        node,
        ts,
        state: String(ts),
        state_type: "Number",
        expires,
        size: 3,
      },
    });
    await sink.write([
      row("boiler", now - 120_000, now - 60_000),
      row("boiler", now - 1000, now + 59_000),
    ]);
    assert.deepEqual(await rows(ch.port, "SELECT count() FROM units.window_entry"), [["2"]]);
    await sink.retain();
    await waitFor(
      async () => (await rows(ch.port, "SELECT count() FROM units.window_entry"))[0][0] === "1",
      { what: "expired row deleted" },
    );
    const [[uuid, state]] = await rows(
      ch.port,
      "SELECT toString(unit_node_uuid), state FROM units.window_entry",
    );
    assert.equal(state, String(now - 1000));
    assert.equal(uuid, nodeUuid("boiler"));
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  } finally {
    await sink.close();
  }
}

// One clickhouse-server for the file (it takes seconds to start); each step has its own database.
Deno.test("ClickHouse sink and storage policies on clickhouse-server 18.16", async (t) => {
  const ch = await startClickHouse();
  try {
    await t.step(
      "each policy end to end: NRecords keeps N, TimeWindow rows expire, Aggregation values, LastValue, files in S3",
      () => policiesEndToEnd(ch),
    );
    for (const workers of [false, true]) {
      await t.step(
        `ClickHouse down while publishing, then back: nothing lost, no duplicates; nodes keep their own policies; bad payloads block nothing${
          workers ? " (the sink in a Worker)" : ""
        }`,
        () => clickhouseOutage(ch, workers),
      );
    }
    await t.step(
      "expired TimeWindow rows are deleted on a server without TTL; node ids that are not UUIDs get stable ones",
      () => retentionWithoutTtl(ch),
    );
  } finally {
    await ch.stop();
  }
});
