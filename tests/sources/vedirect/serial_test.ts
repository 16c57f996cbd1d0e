import assert from "node:assert/strict";
import { simulateToPort } from "../../../src/cli/simulate.ts";
import { configureLog } from "../../../src/log.ts";
import { VeDirectSource } from "../../../src/sources/vedirect/mod.ts";
import { vedirectSchema } from "../../../src/sources/vedirect/schema.ts";
import { collectingContext } from "../../helpers/context.ts";
import { PtyPair } from "../../helpers/pty.ts";
import { waitFor } from "../../helpers/servers.ts";

configureLog({ level: "error" });

function playDevice(port: string, device: "mppt" | "bmv") {
  const abort = new AbortController();
  const done = simulateToPort(port, { device, intervalMs: 100, count: 0, signal: abort.signal })
    .catch(() => 0);
  return { stop: async () => (abort.abort(), await done) };
}

Deno.test("a simulated device on a pty is read, survives unplug/replug, and answers HEX get", async () => {
  const pty = await PtyPair.create();
  const ctx = collectingContext("mppt1");
  const config = vedirectSchema.parse({
    type: "vedirect",
    port: pty.device,
    gap: "80ms",
    reconnect_min: "100ms",
    reconnect_max: "400ms",
  });
  const source = new VeDirectSource(config, ctx);
  await source.start();
  let device = playDevice(pty.peer, "mppt");
  try {
    await waitFor(() => ctx.samples.length >= 3, { what: "first records" });
    const s = ctx.samples[0];
    assert.equal(s.node, "mppt1");
    assert.equal(s.tags?.product, "SmartSolar MPPT 75/15");
    assert.equal(typeof s.fields.V, "number");
    assert.ok((s.fields.V as number) > 10 && (s.fields.V as number) < 16);

    const reply = await source.get(0xedf0, { timeoutMs: 30_000 }); // max charge current, 0.1 A
    assert.equal(reply.value, 150);

    // Unplug: socat dies, the port vanishes; the source notices and waits.
    await pty.unplug();
    await device.stop();
    await waitFor(() => ctx.status.state === "down", { what: "port down" });
    const before = ctx.samples.length;

    // Replug: a new pts behind the same link name; reading resumes by itself.
    await pty.plug();
    device = playDevice(pty.peer, "mppt");
    await waitFor(() => ctx.samples.length >= before + 3, { what: "records after replug" });
    assert.equal(ctx.status.state, "up");
    assert.ok(ctx.status.counters.opens >= 2);
    assert.ok(ctx.status.counters.reconnects >= 1);
    assert.equal(ctx.status.counters.checksum_errors, 0);
  } finally {
    await source.stop();
    await device.stop();
    await pty.unplug();
  }
});

Deno.test("two ports are read at once (an MPPT and a BMV)", async () => {
  const a = await PtyPair.create();
  const b = await PtyPair.create();
  const ctxA = collectingContext("mppt");
  const ctxB = collectingContext("bmv");
  const mk = (port: string) =>
    vedirectSchema.parse({ type: "vedirect", port, gap: "80ms", reconnect_min: "100ms" });
  const sources = [new VeDirectSource(mk(a.device), ctxA), new VeDirectSource(mk(b.device), ctxB)];
  for (const s of sources) await s.start();
  const devices = [playDevice(a.peer, "mppt"), playDevice(b.peer, "bmv")];
  try {
    await waitFor(() => ctxA.samples.length >= 2 && ctxB.samples.length >= 2, {
      what: "records from both ports",
    });
    const bmv = ctxB.samples.at(-1)!;
    // Both BMV blocks merged into one record.
    assert.equal(typeof bmv.fields.SOC, "number");
    assert.equal(typeof bmv.fields.H18, "number");
    assert.equal(bmv.tags?.product, "BMV-702");
  } finally {
    for (const s of sources) await s.stop();
    for (const d of devices) await d.stop();
    await a.unplug();
    await b.unplug();
  }
});
