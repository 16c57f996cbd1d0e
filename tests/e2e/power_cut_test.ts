/**
 * Power cuts, as closely as this machine allows (tests/helpers/power_cut.ts says how and what it
 * cannot simulate): the data dir is on an ext4 card whose unsynced writes are dropped at each cut;
 * the gateway is stopped mid-write, the card taken as it stood, and the gateway restarted on it.
 *
 * The contract, which holds whether the gateway commits every append at once or in groups
 * (`gateway.commit_interval`): what a sender was acknowledged for survives; what was not is lost
 * only if the sender gives up on it (an HTTP sender's batch in flight) — the MQTT broker keeps and
 * redelivers every message the gateway had not acknowledged, so over MQTT (`ack: commit`) nothing
 * is lost at all. That bounds the loss by the commit window without reading a clock: a sender
 * waits for each answer, so what it can lose is the one batch it sent since the last commit.
 * store.db and outbox.db open (no damage, nothing moved aside), and the local store, which syncs
 * each commit that acknowledges a sender, keeps every acknowledged sample too; so a window
 * computed after a cut counts every second acknowledged before it (the second test).
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { gatewaySchema } from "../../src/config/schema.ts";
import { type GatewayProcess, startGateway } from "../helpers/gateway.ts";
import { PowerCutDisk, powerCutUnavailable } from "../helpers/power_cut.ts";
import { influxQuery, startInfluxd, startMosquitto, waitFor } from "../helpers/servers.ts";

const CUTS = 3;
const TOKEN = "power-cut-token";
const SENDERS = 2;
const BATCH = 20;
// One sample a second per sender node: the store keeps one row per node and second.
const T0 = Date.UTC(2026, 0, 1);

// Deterministic "random" moments, so a failing run can be replayed.
let seed = 20261207;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}

// Group commits (`gateway.commit_interval`, where the schema has it): a short window keeps the
// test quick; the contract is the same at any window.
const groupCommits = !gatewaySchema.safeParse({ gateway: { commit_interval: "1s" } }).error?.issues
  .some((i) => i.code === "unrecognized_keys");

const unavailable = powerCutUnavailable();
if (unavailable) console.error(`power_cut_test.ts skipped: ${unavailable}`);

/** An HTTP sender's batches in one power cycle: acknowledged (200) in order, and the one in flight. */
interface Cycle {
  acked: number[];
  inFlight: number[];
}

/** Posts batches of BATCH samples (node `s<sender>`, `seq` unique) until the gateway dies. */
async function send(url: string, sender: number, next: () => number, cycle: Cycle): Promise<void> {
  for (;;) {
    const seqs = Array.from({ length: BATCH }, next);
    cycle.inFlight = seqs;
    const body = seqs.map((seq) => ({ node: `s${sender}`, ts: T0 + seq * 1000, fields: { seq } }));
    try {
      const res = await fetch(`${url}/ingest`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      await res.body?.cancel();
      if (res.status !== 200) return;
      cycle.acked.push(...seqs);
      cycle.inFlight = [];
    } catch {
      return; // the power went: this batch was not acknowledged
    }
  }
}

/** Every `seq` of a measurement in InfluxDB. */
async function seqsIn(port: number, measurement: string): Promise<Set<number>> {
  const rows = await influxQuery(port, { db: "pc", q: `SELECT "seq" FROM "${measurement}"` });
  return new Set((rows[0]?.values ?? []).map((v) => Number(v[1])));
}

/** The `seq` of every sample of `node` in the local store (GET /query, paged). */
async function storeSeqs(url: string, node: string): Promise<Set<number>> {
  const seqs = new Set<number>();
  let from = 0;
  for (;;) {
    const res = await fetch(`${url}/query?node=${node}&from=${from}&limit=10000`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    if (res.status === 404) return seqs;
    const body = await res.json() as { points: { ts: number; fields: { seq: number } }[] };
    for (const p of body.points) seqs.add(p.fields.seq);
    if (body.points.length < 10000) return seqs;
    from = body.points.at(-1)!.ts + 1;
  }
}

/** Asserts that the store and the outbox opened as they were: nothing moved aside or salvaged. */
async function assertOpenedClean(gateway: GatewayProcess, when: string): Promise<void> {
  const status = await gateway.status();
  for (const part of ["store", "outbox"] as const) {
    assert.equal(status[part].state, "up", `${part} up ${when}`);
    assert.equal(status[part].counters.recoveries ?? 0, 0, `${part} not damaged ${when}`);
    const recovered = JSON.stringify(status[part].recovered);
    assert.equal(recovered, undefined, `${part} moved aside ${when}: ${recovered}`);
  }
}

Deno.test({
  name:
    `${CUTS} power cuts during HTTP and MQTT (ack: commit) ingest: everything acknowledged survives, the files open`,
  ignore: unavailable !== null,
  async fn() {
    const broker = await startMosquitto({
      config: "max_queued_messages 0\nmax_inflight_messages 1000\n",
    });
    const influx = await startInfluxd();
    const disk = await PowerCutDisk.create();
    const dir = await Deno.makeTempDir({ prefix: "power-cut-config-" });
    const yaml = (port: number) =>
      `gateway: {id: pc, data_dir: ${disk.mount}/data${groupCommits ? ", commit_interval: 1s" : ""}}
log: {level: error}
http: {port: ${port}, token: ${TOKEN}}
store: {type: embedded, max_rows: 1000000}
sources:
  units: {type: mqtt, url: "mqtt://127.0.0.1:${broker.port}", topics: ["site/+/data"], client_id: pc, ack: commit}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: pc, create_database: true, batch_size: 2000, max_wait: 50ms}
`;
    // The MQTT publisher runs through all cuts, from when the gateway's session exists (the
    // broker keeps messages for it from then on); `published`: the broker has the message.
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: "pc-pub" });
    const published: number[] = [];
    let publishing = true;
    let publisher: Promise<void> | undefined;
    const publish = async () => {
      for (let seq = 0; publishing; seq += 50) {
        const seqs = Array.from({ length: 50 }, (_, i) => seq + i);
        await Promise.all(
          seqs.map((s) =>
            pub.publishAsync(`site/m${s % 2}/data`, `{"seq":${s}}`, { qos: 1 })
              .then(() => void published.push(s))
          ),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    let seq = 0;
    const cycles: Cycle[][] = []; // [cut][sender]
    let gateway: GatewayProcess | undefined;
    try {
      for (let cut = 0; cut < CUTS; cut++) {
        // The second cycle has its uplink down too: the outbox holds everything when power goes.
        if (cut === 1) await influx.kill();
        if (cut === 2) await influx.start();
        gateway = await startGateway(yaml, { dir, timeoutMs: 60_000 });
        await assertOpenedClean(gateway, `after ${cut} cuts`);
        await gateway.up("mqtt.units");
        publisher ??= publish();
        const mine = Array.from({ length: SENDERS }, (): Cycle => ({ acked: [], inFlight: [] }));
        cycles.push(mine);
        const senders = mine.map((c, i) => send(gateway!.url, i, () => seq++, c));
        // Cut while both kinds of ingest are busy: after some progress, at a varying moment.
        const g = gateway;
        await waitFor(async () =>
          (await g.status()).sources.units.processed >= 50 &&
          mine.every((c) => c.acked.length >= 2 * BATCH), {
          what: `ingest under way before cut ${cut + 1}`,
          timeoutMs: 60_000,
          intervalMs: 20,
        });
        await new Promise((r) => setTimeout(r, random() * 1500));
        await disk.cut(gateway.child.pid);
        await gateway.stop();
        await Promise.all(senders);
        await disk.powerOn();
      }
      publishing = false;
      await publisher;

      // Power stays on: the gateway drains the broker and the outbox into InfluxDB.
      gateway = await startGateway(yaml, { dir, timeoutMs: 60_000 });
      await assertOpenedClean(gateway, `after ${CUTS} cuts`);
      const acked = cycles.flat().flatMap((c) => c.acked);
      const inFlight = new Set(cycles.flat().flatMap((c) => c.inFlight));
      let missing: { http: number[]; mqtt: number[] } = { http: acked, mqtt: published };
      await waitFor(async () => {
        const [http, mq] = [await seqsIn(influx.port, "http"), await seqsIn(influx.port, "mqtt")];
        missing = {
          http: acked.filter((s) => !http.has(s)),
          mqtt: published.filter((s) => !mq.has(s)),
        };
        return missing.http.length === 0 && missing.mqtt.length === 0;
      }, { what: "every acknowledged sample in InfluxDB", timeoutMs: 90_000 }).catch(() => {});
      assert.deepEqual(missing.http.slice(0, 10), [], `${missing.http.length} acknowledged lost`);
      assert.deepEqual(missing.mqtt.slice(0, 10), [], `${missing.mqtt.length} MQTT messages lost`);
      const http = await seqsIn(influx.port, "http");
      const lostInFlight = [...inFlight].filter((s) => !http.has(s)).length;
      // Nothing outside the batches in flight at a cut is missing: seq runs 0..seq-1.
      const sent = Array.from({ length: seq }, (_, i) => i);
      const lost = sent.filter((s) => !http.has(s));
      assert.deepEqual(lost.filter((s) => !inFlight.has(s)), [], "lost only what was in flight");

      // The local store: per sender and power cycle, everything acknowledged.
      const storeLost: number[] = [];
      for (let sender = 0; sender < SENDERS; sender++) {
        const stored = await storeSeqs(gateway.url, `s${sender}`);
        cycles.forEach((cycle, cut) => {
          const list = cycle[sender].acked;
          const kept = list.findIndex((s) => !stored.has(s));
          const hole = kept === -1 ? -1 : list.slice(kept).findIndex((s) => stored.has(s));
          assert.equal(
            hole,
            -1,
            `store: a hole in sender ${sender}'s samples before cut ${cut + 1}`,
          );
          storeLost[cut] = (storeLost[cut] ?? 0) + (kept === -1 ? 0 : list.length - kept);
        });
      }
      assert.deepEqual(storeLost.filter((n) => n > 0), [], `store lost ${storeLost.join(", ")}`);
      console.log(
        `power cuts: ${acked.length} HTTP samples acknowledged, all delivered; ${lost.length} ` +
          `unacknowledged in flight lost (${lostInFlight} of ${inFlight.size}); ${published.length} ` +
          `MQTT messages, all delivered; the local store lost its newest ${
            storeLost.join(", ")
          } acknowledged samples at the cuts (of ${
            cycles.map((c) => c.reduce((n, x) => n + x.acked.length, 0)).join(", ")
          })`,
      );
    } finally {
      publishing = false;
      await publisher?.catch(() => {});
      await pub.endAsync();
      await gateway?.stop();
      await disk.destroy();
      await influx.stop();
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a power cut mid-minute: the window computed after it counts every second acknowledged before it",
  ignore: unavailable !== null,
  async fn() {
    const influx = await startInfluxd();
    const disk = await PowerCutDisk.create();
    const dir = await Deno.makeTempDir({ prefix: "power-cut-window-" });
    // The default commit interval (10 s): each acknowledged sender makes its commit come early.
    const yaml = (port: number) =>
      `gateway: {id: pcw, data_dir: ${disk.mount}/data}
log: {level: error}
http: {port: ${port}, token: ${TOKEN}}
store: {type: embedded, grace: 2s}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: pcw, create_database: true, forward: [sample, window], batch_size: 500, max_wait: 50ms}
`;
    // One sample a second of a minute that has not begun yet (30-90 s ahead): its window closes
    // only after the cut and the restart, so it is computed once, after the cut.
    const minute = Math.ceil((Date.now() + 30_000) / 60_000) * 60_000;
    const acked = new Set<number>();
    const post = async (url: string, i: number) => {
      const res = await fetch(`${url}/ingest`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify([{ node: "w", ts: minute + i * 1000, fields: { v: i } }]),
      });
      await res.body?.cancel();
      if (res.status === 200) acked.add(i);
      return res.status === 200;
    };
    let gateway: GatewayProcess | undefined;
    try {
      gateway = await startGateway(yaml, { dir, timeoutMs: 60_000 });
      const g = gateway;
      let sending = true;
      const sender = (async () => {
        for (let i = 0; sending && i < 60; i++) {
          if (!await post(g.url, i).catch(() => false)) return;
        }
      })();
      await waitFor(() => acked.size >= 20, { what: "20 seconds acknowledged", timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, random() * 300));
      await disk.cut(gateway.child.pid);
      sending = false;
      await gateway.stop();
      await sender;
      await disk.powerOn();
      const before = acked.size;

      gateway = await startGateway(yaml, { dir, timeoutMs: 60_000 });
      await assertOpenedClean(gateway, "after the cut");
      // The sender sends again what was not acknowledged, then the rest of the minute.
      for (let i = 0; i < 60; i++) {
        if (!acked.has(i)) assert.ok(await post(gateway.url, i), `second ${i} accepted`);
      }
      // The window's measurement follows the sink's templates (`http_1m` by default).
      let count: unknown = null;
      let seen = "";
      await waitFor(async () => {
        const series = await influxQuery(influx.port, {
          db: "pcw",
          q: `SELECT "v_count" FROM /.*/ WHERE "node" = 'w' AND "level" = '1m'`,
        });
        seen = JSON.stringify(series).slice(0, 500);
        count = series.flatMap((s) => s.values).find((v) => v[0] === minute)?.[1] ?? null;
        return count !== null;
      }, {
        what: `the 1m window of ${new Date(minute).toISOString()} upstream`,
        timeoutMs: 240_000,
      }).catch((e) => {
        throw new Error(`${(e as Error).message}; upstream has ${seen}`);
      });
      assert.equal(
        count,
        60,
        `the window counts every second (${before} acknowledged before the cut)`,
      );
      console.log(
        `power cut mid-minute: ${before} seconds acknowledged before the cut; window count ${count}`,
      );
    } finally {
      await gateway?.stop();
      await disk.destroy();
      await influx.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
