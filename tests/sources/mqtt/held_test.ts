/**
 * A hand-over the pipeline refuses (the outbox full, the disk full) is held and tried again
 * until taken, with either ack mode: nothing lost, nothing twice, the state shown meanwhile.
 */
import assert from "node:assert/strict";
import { configureLog } from "../../../src/log.ts";
import { collectingContext } from "../../helpers/context.ts";
import { startMosquitto, waitFor } from "../../helpers/servers.ts";
import { publishNumbers, sortedValues, unitsSource } from "../../helpers/mqtt_units.ts";

configureLog({ level: "error" });

for (const ack of ["commit", "receipt"] as const) {
  Deno.test(`ack: ${ack}: a refused batch is held, shown, and handed over once there is room; every message once`, async () => {
    const broker = await startMosquitto({ config: "max_queued_messages 0\n" });
    const ctx = collectingContext("units");
    // The outbox's refusal as the pipeline throws it, while `full` says so.
    let full = true;
    let refusals = 0;
    const emit = ctx.emit;
    ctx.emit = (samples, options) => {
      if (!full) return emit(samples, options);
      refusals++;
      return Promise.reject(new Error("outbox is full (on_full: reject_new)"));
    };
    const source = unitsSource(broker.port, ctx, { ack, client_id: `held-${ack}` });
    try {
      await source.start();
      await publishNumbers(broker.port, 0, 300);
      await waitFor(() => refusals >= 2 && ctx.status.info.held !== undefined, {
        what: "the batch held and tried again",
      });
      assert.equal(ctx.status.state, "degraded");
      const held = ctx.status.info.held as { items: number; attempts: number; error: string };
      assert.ok(held.items > 0 && held.attempts >= 1, JSON.stringify(held));
      assert.match(held.error, /outbox is full/);
      full = false;
      await waitFor(() => ctx.samples.length >= 300, { what: "all 300 handed over" });
      assert.deepEqual(sortedValues(ctx), Array.from({ length: 300 }, (_, i) => i));
      assert.equal(ctx.status.info.held, undefined);
      assert.equal(ctx.status.state, "up");
      assert.equal(ctx.status.counters.held, 1);
      assert.deepEqual(ctx.status.dropped, {});
    } finally {
      await source.stop();
      await broker.stop();
    }
  });
}

Deno.test("stopping while a batch is held: ack: receipt counts it dropped (it was acknowledged); the stop does not wait for room", async () => {
  const broker = await startMosquitto();
  const ctx = collectingContext("units");
  ctx.emit = () => Promise.reject(new Error("outbox could not store: database or disk is full"));
  const source = unitsSource(broker.port, ctx, { client_id: "held-stop" });
  await source.start();
  try {
    await publishNumbers(broker.port, 0, 10);
    await waitFor(() => ctx.status.info.held !== undefined, { what: "the batch held" });
  } finally {
    await source.stop();
    await broker.stop();
  }
  assert.equal(ctx.status.dropped.stopped_while_held, 10 - ctx.samples.length);
  assert.equal(ctx.status.state, "stopped");
});
