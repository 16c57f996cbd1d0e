/**
 * A sink in a Worker, as the host builds it: a sink that cannot be made from its config is a
 * configuration error (down, said once), not a retry loop.
 */
import assert from "node:assert/strict";
import { WorkerBatches } from "../../src/delivery/mod.ts";
import { ComponentHost } from "../../src/host.ts";
import { configureLog, createLogger } from "../../src/log.ts";
import { testOutbox } from "../helpers/delivery.ts";
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
      forward: ["sample"],
      nodes: [],
      fields: [],
      batch_size: 10,
      batch_bytes: 1024 ** 2,
      max_wait: 1000,
      backoff_min: 1000,
      backoff_max: 8000,
      timeout: 5000,
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
