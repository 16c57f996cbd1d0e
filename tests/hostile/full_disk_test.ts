/**
 * Attacks 4 and 5: a full disk, and a full outbox (`on_full: reject_new`), while MQTT flows
 * with `ack: commit`. Ingest used to stop for good: a refused batch was never tried again and
 * its PUBACKs never went out, so the broker's in-flight window stayed full until the connection
 * dropped. Now the source holds the batch (and its PUBACKs), says so, and carries on by itself
 * once there is room: every message lands upstream exactly once.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { type GatewayProcess, startGateway } from "../helpers/gateway.ts";
import { influxQuery, startInfluxd, startMosquitto, waitFor } from "../helpers/servers.ts";
import { canMount, withTmpfs } from "../helpers/tmpfs.ts";

const TOPICS = 4;
const FIRST = 200;

/** Points and distinct `seq` values in InfluxDB, over every series. */
async function counts(port: number, db: string): Promise<{ points: number; distinct: number }> {
  const series = await influxQuery(port, {
    db,
    q: 'SELECT count("seq"), count(distinct("seq")) FROM "mqtt" GROUP BY "node"',
  });
  let points = 0;
  let distinct = 0;
  for (const s of series) {
    points += Number(s.values[0][1]);
    distinct += Number(s.values[0][2]);
  }
  return { points, distinct };
}

/** Publishes `seq` from..from+count-1 (QoS 1, `pad` bytes each); resolves once the broker has them. */
async function publish(pub: mqtt.MqttClient, range: [number, number], pad: number): Promise<void> {
  const [from, count] = range;
  const padding = "x".repeat(pad);
  for (let i = from; i < from + count; i += 100) {
    const seqs = Array.from({ length: Math.min(100, from + count - i) }, (_, j) => i + j);
    await Promise.all(
      seqs.map((seq) =>
        pub.publishAsync(`site/n${seq % TOPICS}/data`, `{"seq":${seq},"pad":"${padding}"}`, {
          qos: 1,
        })
      ),
    );
  }
}

/** Fills the file system of `path` with one file until it has no room left. */
async function fill(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024).fill(7);
  try {
    for (;;) await file.write(chunk);
  } catch { /* ENOSPC: full */ }
  file.close();
}

/** The gateway's YAML: one MQTT source with ack: commit, one InfluxDB sink. */
function gatewayYaml(
  o: { broker: number; influx: number; connections: number; outbox?: string },
) {
  return (port: number, data: string) =>
    `gateway: {id: full, data_dir: ${data}}
log: {level: error}
http: {port: ${port}}
${o.outbox ? `outbox: ${o.outbox}\n` : ""}sources:
  units: {type: mqtt, url: "mqtt://127.0.0.1:${o.broker}", topics: ["site/+/data"], client_id: full, ack: commit, connections: ${o.connections}, max_pending: 256KiB}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${o.influx}", database: full, create_database: true, max_wait: 50ms, backoff_min: 200ms, backoff_max: 1s}
`;
}

/**
 * The common course: 200 messages flow; the sink goes down and `block` makes the outbox refuse;
 * more are published and ingest holds (`held` shown); `unblock` and the sink's return let
 * them all through, once each, and the process served all along.
 */
async function holdAndResume(o: {
  connections: number;
  outbox?: string;
  dir?: string;
  pad: number;
  /** Messages published while the outbox refuses. */
  more: number;
  reason: string;
  block(): Promise<void>;
  unblock(): Promise<void>;
}) {
  const broker = await startMosquitto({ config: "max_queued_messages 0\n" });
  const influx = await startInfluxd();
  const gw: GatewayProcess = await startGateway(
    gatewayYaml({ broker: broker.port, influx: influx.port, ...o }),
    { dir: o.dir },
  );
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  try {
    await gw.up("mqtt.units");
    await publish(pub, [0, FIRST], o.pad);
    await waitFor(async () => (await counts(influx.port, "full")).distinct >= FIRST, {
      what: "the first messages in InfluxDB",
      timeoutMs: 60_000,
    });
    // The upstream goes away (the outbox has to keep what comes), then the outbox cannot.
    await influx.kill();
    await o.block();
    await publish(pub, [FIRST, o.more], o.pad);
    await waitFor(async () => {
      const s = await gw.status();
      const full = s.outbox.full as { reason: string } | undefined;
      return full?.reason === o.reason && s.sources.units.held !== undefined;
    }, { what: `the outbox full (${o.reason}) and the source holding`, timeoutMs: 60_000 })
      .catch(async (e) => {
        const s = await gw.status();
        throw new Error(
          `${e.message}: ${JSON.stringify({ outbox: s.outbox, source: s.sources.units })}`,
        );
      });
    const held = await gw.status();
    assert.equal(held.sources.units.state, "degraded");
    assert.equal(held.outbox.state, o.reason === "disk_full" ? "down" : "degraded");
    assert.ok(held.outbox.counters[`refused_${o.reason}`] > 0, JSON.stringify(held.outbox));
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`edge_outbox_full\\{reason="${o.reason}"\\} 1`));
    assert.match(metrics, /edge_source_held_items\{source="units"\} [1-9]/);
    // Served all along: /status answered, and /health says why it is unhappy.
    assert.equal((await gw.health()).code, o.reason === "disk_full" ? 503 : 200);
    await o.unblock();
    await influx.start();
    const all = FIRST + o.more;
    await waitFor(async () => (await counts(influx.port, "full")).distinct >= all, {
      what: "every message in InfluxDB",
      timeoutMs: 120_000,
      intervalMs: 500,
    }).catch(async (e) => {
      const s = await gw.status();
      const seen = await counts(influx.port, "full");
      throw new Error(
        `${e.message}: ${
          JSON.stringify({ seen, outbox: s.outbox, source: s.sources.units, sink: s.sinks.influx })
        }`,
      );
    });
    const c = await counts(influx.port, "full");
    assert.deepEqual(c, { points: all, distinct: all }, "each message once");
    await waitFor(async () => (await gw.status()).sources.units.state === "up", {
      what: "the source up again",
    });
    const s = await gw.status();
    assert.equal(s.sources.units.held, undefined);
    assert.deepEqual(s.sources.units.dropped, {});
    assert.deepEqual(s.sinks.influx.dropped, {});
    assert.equal(s.outbox.state, "up");
    assert.equal(s.outbox.full, undefined);
    assert.ok(s.sources.units.counters.held >= 1);
    assert.equal((await gw.health()).code, 200);
    // The bound held: what waited was the broker's, not the gateway's memory.
    assert.ok(gw.peakRssMiB() < 400, `peak RSS ${gw.peakRssMiB().toFixed(0)} MiB`);
  } finally {
    await pub.endAsync();
    await gw.stop();
    await Promise.all([broker.stop(), influx.stop()]);
  }
}

for (const connections of [1, 2]) {
  const how = connections > 1 ? `${connections} connections in Workers` : "1 connection";
  Deno.test({
    name: `a full disk under ack: commit (${how}): ingest holds, says so, and resumes by ` +
      "itself once space is freed; every message once",
    ignore: !canMount,
    fn: () =>
      withTmpfs("8m", (dir) =>
        holdAndResume({
          connections,
          dir,
          pad: 200,
          more: 2000,
          reason: "disk_full",
          block: () => fill(`${dir}/filler`),
          unblock: () => Deno.remove(`${dir}/filler`),
        })),
  });

  Deno.test(
    `a full outbox (reject_new) under ack: commit (${how}): ingest holds until the sink ` +
      "drains it, then resumes by itself; every message once",
    () =>
      holdAndResume({
        connections,
        outbox: "{max_bytes: 64KiB, on_full: reject_new}",
        pad: 20,
        more: 2000,
        reason: "buffer_full",
        block: () => Promise.resolve(),
        unblock: () => Promise.resolve(),
      }),
  );
}

Deno.test({
  name: "a disk the gateway filled itself (the sink down, on_full: drop_oldest): ingest holds; " +
    "once the sink is back, the outbox's reserve lets the delivered records go, and every " +
    "message lands once",
  ignore: !canMount,
  fn: () =>
    withTmpfs("12m", (dir) =>
      holdAndResume({
        connections: 1,
        dir,
        // Its reserve (4 MiB) is kept aside: without it, the full WAL could not be emptied and
        // no delivered record could leave (deleting rows needs room too).
        outbox: "{max_bytes: 64MiB}",
        pad: 1000,
        more: 6000,
        reason: "disk_full",
        block: () => Promise.resolve(),
        unblock: () => Promise.resolve(),
      })),
});

Deno.test({
  name: "a gateway started again on a full disk opens (its reserve gives the room the database " +
    "files need) and serves",
  ignore: !canMount,
  fn: () =>
    withTmpfs("8m", async (dir) => {
      const yaml = (port: number, data: string) =>
        `gateway: {id: full, data_dir: ${data}}
log: {level: error}
http: {port: ${port}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
`;
      let gw = await startGateway(yaml, { dir });
      await gw.up("vedirect.mppt1");
      await gw.stop();
      await fill(`${dir}/filler`);
      // Before: "error: disk I/O error" and exit 1 (the WAL and its index could not be made).
      gw = await startGateway(yaml, { dir });
      try {
        await gw.up("vedirect.mppt1");
        await waitFor(async () => (await gw.status()).sources.mppt1.processed > 5, {
          what: "samples stored after the start",
        });
        assert.equal((await gw.health()).body.components.outbox, "up");
      } finally {
        await gw.stop();
      }
    }),
});
