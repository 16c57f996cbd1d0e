/**
 * The delivery loop's waits run on the clock it is given: a fake clock moves
 * them, so batching and backoff are checked without sleeping through them.
 */
import assert from "node:assert/strict";
import { ComponentHost } from "../../src/host.ts";
import { createLogger } from "../../src/log.ts";
import { testOutbox } from "../helpers/delivery.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { waitFor } from "../helpers/servers.ts";
import { configureLog } from "../../src/log.ts";

configureLog({ level: "error" });

Deno.test("a batch waits max_wait on the clock, and retries back off on it (no real sleeping)", async () => {
  // A webhook receiver that answers 503 twice, then 200.
  let requests = 0;
  const server = Deno.serve({ port: 0, onListen() {} }, async (req) => {
    await req.text();
    requests++;
    return new Response(null, { status: requests <= 2 ? 503 : 200 });
  });
  const clock = new FakeClock();
  const dir = await Deno.makeTempDir({ prefix: "delivery-clock-" });
  const log = createLogger("test");
  const outbox = testOutbox(dir, { log, clock });
  const host = new ComponentHost({ outbox, gatewayId: "t", dataDir: dir, clock, log });
  const d = host.startSink("hook", {
    type: "webhook",
    url: `http://127.0.0.1:${server.addr.port}/`,
    forward: ["event"],
    max_wait: 60_000,
    backoff_min: 30_000,
    backoff_max: 600_000,
    batch_size: 10,
    nodes: [],
    fields: [],
    batch_bytes: 1024 ** 2,
    timeout: 5000,
    mode: "each",
    headers: {},
  });
  try {
    outbox.append([{
      kind: "event",
      data: { id: "e1", type: "alert", ts: clock.now(), data: {} },
    }]);
    // The batch may fill for a minute: nothing is sent before the clock says so.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(requests, 0);
    await clock.advance(60_000);
    await waitFor(() => requests === 1, { what: "the first attempt" });
    // 503: back off 30 s (the first backoff is exactly backoff_min).
    await waitFor(() => d.options.status.counters.retried === 1, { what: "a retry counted" });
    await clock.advance(29_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(requests, 1, "still backing off");
    await clock.advance(1_000);
    await waitFor(() => requests === 2, { what: "the second attempt" });
    // The second backoff lies between 30 s and 60 s (jitter): a minute always covers it.
    await waitFor(() => d.options.status.counters.retried === 2, { what: "a second retry" });
    await clock.advance(60_000);
    await waitFor(() => d.options.status.processed === 1, { what: "delivered on the third" });
    assert.equal(requests, 3);
    assert.equal(outbox.depth("hook").records, 0);
  } finally {
    await host.stopSinks();
    outbox.close();
    await server.shutdown();
  }
});
