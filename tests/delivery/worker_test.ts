/**
 * A sink in a Worker, as the host builds it: a sink that cannot be made from its config is a
 * configuration error (down, said once), not a retry loop; a Worker stuck in synchronous code is
 * ended past its deadline and the batch tried again from the cursor.
 */
import assert from "node:assert/strict";
import { Delivery, WorkerBatches } from "../../src/delivery/mod.ts";
import { influxdbSchema } from "../../src/sinks/influxdb/schema.ts";
import { ComponentStatus } from "../../src/status.ts";
import { ComponentHost } from "../../src/host.ts";
import { configureLog, createLogger } from "../../src/log.ts";
import { testDeliveryConfig, testOutbox } from "../helpers/delivery.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

Deno.test("a sink whose create() throws in its Worker is down with the config error, and not retried", async () => {
  const dir = await Deno.makeTempDir({ prefix: "delivery-worker-" });
  const clock = new FakeClock();
  const log = createLogger("test");
  const outbox = testOutbox(dir, { log, clock });
  const host = new ComponentHost({
    outbox,
    gatewayId: "t",
    dataDir: dir,
    clock,
    log,
    workers: true,
  });
  try {
    // A mapping whose pattern is no regular expression: the sink's encoder throws when made.
    const d = host.startSink("bad", {
      type: "influxdb",
      url: "http://127.0.0.1:9/",
      database: "x",
      mappings: [{ match: "(" }],
      ...testDeliveryConfig({ timeout: 5000 }),
    });
    assert.ok(d.options.batches instanceof WorkerBatches);
    const status = d.options.status;
    await waitFor(() => status.lastError !== null, { what: "the set-up error" });
    assert.equal(status.state, "down");
    assert.match(status.lastError!.message, /^sinks\.bad: .*regular expression/i);
    // Time passes: no backoff, no new Worker, no retry counted.
    await clock.advance(60_000);
    await clock.advance(60_000);
    assert.equal(status.counters.retried, undefined);
    assert.equal(status.info.next_retry_ms, undefined, "no retry planned");
    const r = await d.sync({ timeoutMs: 10_000 });
    assert.equal(r.sent, 0);
    assert.match(r.error ?? "", /sinks\.bad/);
  } finally {
    await host.stopSinks();
    outbox.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sink's Worker stuck in synchronous code is ended past its deadline, counted, and its batch kept for the next try", async () => {
  const dir = await Deno.makeTempDir({ prefix: "delivery-worker-" });
  const clock = new FakeClock();
  const log = createLogger("test");
  const outbox = testOutbox(dir, { log, clock });
  // The upstream takes everything: what holds the batch is the Worker's own encoding.
  const upstream = Deno.serve(
    { port: 0, onListen() {} },
    () => new Response(null, { status: 204 }),
  );
  const status = new ComponentStatus("stuck", "influxdb");
  const config = influxdbSchema.parse({
    type: "influxdb",
    url: `http://127.0.0.1:${upstream.addr.port}/`,
    database: "x",
    // A user's pattern that backtracks forever on the node below: the encoder never returns.
    mappings: [{ match: "^(a+)+$", measurement: "m" }],
    timeout: 1000,
  });
  const setup = { name: "stuck", type: "influxdb", gatewayId: "t", config };
  const batches = new WorkerBatches(
    { ...setup, log: { path: outbox.options.path, kinds: config.forward, nodes: config.nodes } },
    { status, log, view: () => ({ kinds: {}, stale: [], now: clock.now() }), answerMarginMs: 2000 },
  );
  outbox.register("stuck", { kinds: config.forward, nodes: config.nodes, status });
  const d = new Delivery("stuck", { outbox, batches, config, status, log, clock });
  const node = "a".repeat(40) + "!";
  outbox.append([0, 1, 2].map((i) => ({
    kind: "sample" as const,
    data: { source: "t", node, ts: 1_700_000_000_000 + i, fields: { x: i } },
  })));
  d.start();
  try {
    const first = await d.sync({ timeoutMs: 60_000 });
    assert.equal(first.sent, 0);
    assert.match(first.error ?? "", /^sink stuck: its Worker did not answer "\w+" within 3 s/);
    // At least one (a first Worker slow to boot under `deno test`'s type check may be one more).
    const restarts = status.counters.worker_restarts;
    assert.ok(restarts >= 1, `worker_restarts ${restarts}`);
    assert.match(status.lastError!.message, /sink stuck: its Worker did not answer/);
    assert.notEqual(status.state, "up");
    // Nothing lost, nothing moved: the three records wait after the same cursor.
    assert.deepEqual(
      { after: outbox.place("stuck").after, waiting: outbox.place("stuck").waiting },
      { after: 0, waiting: 3 },
    );
    // The next try starts a new Worker (it gets as far as the same batch, and is ended again).
    const second = await d.sync({ timeoutMs: 60_000 });
    assert.match(second.error ?? "", /did not answer/);
    assert.ok(status.counters.worker_restarts > restarts);
    assert.equal(outbox.place("stuck").waiting, 3);
  } finally {
    await d.stop();
    await upstream.shutdown();
    outbox.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a new sink Worker's counters add to those of the one before it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "delivery-worker-" });
  const log = createLogger("test");
  const outbox = testOutbox(dir, { log });
  // An upstream that refuses any batch holding a "bad" point: the sink splits it (counted there).
  const upstream = Deno.serve({ port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    return body.includes("bad")
      ? new Response('{"error":"field type conflict"}', { status: 400 })
      : new Response(null, { status: 204 });
  });
  const status = new ComponentStatus("split", "influxdb");
  const config = influxdbSchema.parse({
    type: "influxdb",
    url: `http://127.0.0.1:${upstream.addr.port}/`,
    database: "x",
    gzip: false,
  });
  const setup = { name: "split", type: "influxdb", gatewayId: "t", config };
  const batches = new WorkerBatches(
    { ...setup, log: { path: outbox.options.path, kinds: config.forward, nodes: config.nodes } },
    { status, log, view: () => ({ kinds: {}, stale: [], now: Date.now() }) },
  );
  outbox.register("split", { kinds: config.forward, nodes: config.nodes, status });
  const write = async (nodes: string[]) => {
    outbox.append(nodes.map((node, i) => ({
      kind: "sample" as const,
      data: { source: "t", node, ts: 1_700_000_000_000 + i, fields: { x: i } },
    })));
    const p = outbox.place("split");
    const place = { after: p.after, limit: 10, maxBytes: 1024 ** 2, largest: p.largest };
    const report = await batches.write({ ...place, ahead: false });
    assert.equal(report.refused.length, 1);
    outbox.ack("split", report.lastId);
  };
  try {
    await write(["ok", "bad"]);
    assert.equal(status.counters.rejected_batches_split, 1);
    await batches.close(); // the next write starts a new Worker, counting from 0 over there
    await write(["ok", "bad"]);
    assert.equal(status.counters.rejected_batches_split, 2);
  } finally {
    await batches.close();
    await upstream.shutdown();
    outbox.close();
    await Deno.remove(dir, { recursive: true });
  }
});
