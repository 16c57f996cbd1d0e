import assert from "node:assert/strict";
import { WorkerBatches } from "../../../src/delivery/mod.ts";
import { configureLog } from "../../../src/log.ts";
import type { Envelope } from "../../../src/model.ts";
import { deliveryFor } from "../../helpers/delivery.ts";
import { influxQuery, startInfluxd, waitFor } from "../../helpers/servers.ts";

/** An InfluxDB sink's config for `database` (created if missing) on the influxd at `port`. */
function influxdbAt(port: number, database: string) {
  return { type: "influxdb", url: `http://127.0.0.1:${port}`, database, create_database: true };
}

configureLog({ level: "error" });

const T0 = Date.UTC(2026, 0, 1);

function samples(from: number, n: number, node = "n1"): Envelope[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "sample",
    data: { source: "test", node, ts: T0 + (from + i) * 1000, fields: { seq: from + i, V: 12.5 } },
  }));
}

async function count(port: number, db: string, measurement = "test"): Promise<number> {
  const series = await influxQuery(port, { db, q: `SELECT count(seq) FROM "${measurement}"` });
  return Number(series[0]?.values[0]?.[1] ?? 0);
}

for (const workers of [false, true]) {
  Deno.test(`InfluxDB down for a while, then back: every record arrives once, in order${workers ? " (the sink in a Worker)" : ""}`, async () => {
    const influx = await startInfluxd();
    const d = await deliveryFor({
      ...influxdbAt(influx.port, "gw"),
      batch_size: 500,
      max_wait: "50ms",
      backoff_min: "100ms",
      backoff_max: "500ms",
      timeout: "2s",
    }, { workers });
    try {
      assert.equal(d.delivery.options.batches instanceof WorkerBatches, workers);
      d.delivery.start();
      d.append(samples(0, 1000));
      await waitFor(async () => await count(influx.port, "gw") === 1000, { what: "first 1000" });
      // influxd shows the points before its answer reaches the gateway: wait for the ack too.
      await waitFor(() => d.outbox.depth("sink").records === 0, {
        what: "first 1000 acknowledged",
      });

      await influx.kill(); // the uplink fails
      d.append(samples(1000, 3000));
      await waitFor(() => (d.status.counters.retried ?? 0) >= 2, { what: "retries while down" });
      assert.equal(d.outbox.depth("sink").records, 3000);
      await influx.start(); // and comes back
      await waitFor(async () => await count(influx.port, "gw") === 4000, {
        what: "all 4000 after the outage",
      });
      // A replay (as after a crash before the acknowledgement) overwrites, never duplicates.
      const sent = d.status.processed;
      d.append(samples(500, 1000));
      await waitFor(() => d.status.processed >= sent + 1000, { what: "replayed batch" });
      assert.equal(await count(influx.port, "gw"), 4000);
      const rows = await influxQuery(influx.port, { db: "gw", q: 'SELECT seq FROM "test"' });
      const seqs = rows[0].values.map((v) => Number(v[1]));
      assert.deepEqual(seqs, Array.from({ length: 4000 }, (_, i) => i));
      assert.equal(d.outbox.depth("sink").records, 0);
      assert.equal(d.outbox.bytes, 0, "delivered rows are removed");
    } finally {
      await d.close();
      await influx.stop();
    }
  });
}

for (const workers of [false, true]) {
  Deno.test(`a payload InfluxDB rejects (400) goes to dead letters; the rest keeps flowing${workers ? " (the sink in a Worker)" : ""}`, async () => {
    const influx = await startInfluxd();
    const d = await deliveryFor({
      ...influxdbAt(influx.port, "dl"),
      batch_size: 10,
      max_wait: "20ms",
    }, { workers });
    try {
      d.delivery.start();
      d.append(samples(0, 5));
      await waitFor(async () => await count(influx.port, "dl") === 5, { what: "first batch" });
      // Field type conflict: seq was a float, now a string.
      d.append([{
        kind: "sample",
        data: { source: "test", node: "n1", ts: T0 + 99_000, fields: { seq: "x" } },
      }]);
      await waitFor(() => (d.status.counters.dead_lettered ?? 0) === 1, { what: "dead letter" });
      assert.match(
        d.outbox.deadLetters.list({ sink: "sink", limit: 1 })[0].error,
        /InfluxDB answered 400: .*conflict/,
      );
      d.append(samples(5, 5));
      await waitFor(async () => await count(influx.port, "dl") === 10, { what: "later batch" });
    } finally {
      await d.close();
      await influx.stop();
    }
  });
}

for (const workers of [false, true]) {
  Deno.test(`413 from InfluxDB halves the batch until it fits; nothing is lost${workers ? " (the sink in a Worker)" : ""}`, async () => {
    const influx = await startInfluxd({ maxBodySize: 20_000 });
    const d = await deliveryFor({
      ...influxdbAt(influx.port, "big"),
      gzip: false,
      batch_size: 1000,
      max_wait: "20ms",
    }, { workers });
    try {
      d.append(samples(0, 1000));
      d.delivery.start();
      await waitFor(async () => await count(influx.port, "big") === 1000, { what: "all lines" });
      assert.ok((d.status.counters.split ?? 0) >= 1);
      assert.equal(d.status.counters.dead_lettered ?? 0, 0);
    } finally {
      await d.close();
      await influx.stop();
    }
  });
}

Deno.test("POST-like sync delivers at once, ignoring max_wait", async () => {
  const influx = await startInfluxd();
  const d = await deliveryFor({
    ...influxdbAt(influx.port, "s"),
    batch_size: 10_000,
    max_wait: "1h",
  });
  try {
    d.delivery.start();
    d.append(samples(0, 10));
    const r = await d.delivery.sync({ timeoutMs: 60_000 }); // a liveness bound (max_wait is 1 h)
    assert.deepEqual(r, { sent: 10 });
    assert.equal(await count(influx.port, "s"), 10);
  } finally {
    await d.close();
    await influx.stop();
  }
});

Deno.test("while InfluxDB is down, new records do not cut the backoff short", async () => {
  const d = await deliveryFor({
    type: "influxdb",
    url: "http://127.0.0.1:9",
    database: "x",
    max_wait: "10ms",
    backoff_min: "400ms",
    backoff_max: "400ms",
  });
  try {
    d.delivery.start();
    // Monotonic time: the test's measure does not move with the wall clock.
    const until = performance.now() + 1300;
    let appends = 0;
    for (; performance.now() < until; appends++) {
      d.append(samples(appends, 1));
      await new Promise((r) => setTimeout(r, 20));
    }
    // ~1.3 s at one attempt per 0.4 s: a handful of attempts, not one per append.
    const attempts = d.status.counters.retried ?? 0;
    assert.ok(attempts <= 8, `attempts: ${attempts} for ${appends} appends (a storm: one each)`);
    // At least one attempt (how soon is the machine's business: a liveness bound).
    await waitFor(() => (d.status.counters.retried ?? 0) >= 1, { what: "an attempt" });
  } finally {
    await d.close();
  }
});

// In a Worker the same batch writer runs, read-ahead and all: no batch goes back to the main thread.
for (const workers of [false, true]) {
  Deno.test(`two batches in flight: a refused record mid-stream is dead-lettered, every other point stored once, the cursor in order${workers ? " (the sink in a Worker)" : ""}`, async () => {
    const influx = await startInfluxd();
    const d = await deliveryFor({
      ...influxdbAt(influx.port, "inflight"),
      batch_size: 200,
      max_wait: "10ms",
    }, { workers });
    try {
      assert.equal(d.delivery.options.batches instanceof WorkerBatches, workers);
      // The first point makes seq a float; record 1234 (in the seventh batch) sends it as a
      // string: InfluxDB refuses that batch while the eighth is already in the air.
      const all = samples(0, 3000);
      (all[1234].data as { fields: Record<string, unknown> }).fields = { seq: "x" };
      d.append(all);
      d.delivery.start();
      await waitFor(() => d.outbox.depth("sink").records === 0, { what: "all delivered" });
      assert.equal(await count(influx.port, "inflight"), 2999);
      assert.equal(d.status.counters.dead_lettered, 1);
      assert.ok(d.status.counters.sent_ahead >= 5, JSON.stringify(d.status.counters));
      const letter = d.outbox.deadLetters.list({ sink: "sink", limit: 5, data: true });
      assert.equal(letter.length, 1);
      assert.match(JSON.stringify(letter[0]), /"seq":"x"/);
      // Each stored point is the one sent (a batch sent again overwrites itself).
      const series = await influxQuery(influx.port, {
        db: "inflight",
        q: 'SELECT sum(seq) FROM "test"',
      });
      const sum = (2999 * 3000) / 2 - 1234;
      assert.equal(Number(series[0].values[0][1]), sum);
    } finally {
      await d.close();
      await influx.stop();
    }
  });
}
