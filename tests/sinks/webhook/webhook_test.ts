import assert from "node:assert/strict";
import { configureLog } from "../../../src/log.ts";
import type { Envelope } from "../../../src/model.ts";
import { WorkerBatches } from "../../../src/delivery/mod.ts";
import { deliveryFor } from "../../helpers/delivery.ts";
import { waitFor } from "../../helpers/servers.ts";

configureLog({ level: "error" });

const T0 = Date.UTC(2026, 0, 1);

function events(n: number): Envelope[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "event",
    data: { id: `e${i}`, type: "alert", ts: T0 + i, data: { seq: i, poison: i === 77 } },
  }));
}

for (const workers of [false, true]) {
  Deno.test(`webhook: 503s retried, a refused record dead-lettered, every other one received once, in order${workers ? " (the sink in a Worker)" : ""}`, async () => {
    // A receiver that is unavailable for its first two requests and refuses the poisoned record.
    let requests = 0;
    const received: number[] = [];
    const server = Deno.serve({ port: 0, onListen() {} }, async (req) => {
      const body = await req.json() as { seq: number; poison: boolean; gateway: string }[];
      if (++requests <= 2) return new Response("starting", { status: 503 });
      if (body.some((r) => r.poison)) return new Response("bad record", { status: 400 });
      assert.ok(body.every((r) => r.gateway === "gw-test"));
      received.push(...body.map((r) => r.seq));
      return new Response(null, { status: 204 });
    });
    const d = await deliveryFor({
      type: "webhook",
      url: `http://127.0.0.1:${server.addr.port}/hook`,
      mode: "batch",
      batch_size: 50,
      max_wait: "20ms",
      backoff_min: "50ms",
      backoff_max: "200ms",
    }, { workers });
    try {
      assert.equal(d.delivery.options.batches instanceof WorkerBatches, workers);
      d.delivery.start();
      d.append(events(200));
      await waitFor(() => received.length === 199 && d.outbox.depth("sink").records === 0, {
        what: "199 records received and acknowledged",
      });
      assert.deepEqual(received, Array.from({ length: 200 }, (_, i) => i).filter((i) => i !== 77));
      assert.equal(d.status.counters.dead_lettered, 1);
      assert.ok((d.status.counters.retried ?? 0) >= 2);
      const [letter] = d.outbox.deadLetters.list({ sink: "sink", limit: 5, data: true });
      assert.match(letter.error, /400/);
    } finally {
      await d.close();
      await server.shutdown();
    }
  });
}
