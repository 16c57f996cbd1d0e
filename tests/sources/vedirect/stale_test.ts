/**
 * A device that stops sending while its port stays open (powered off, TX wire loose) is
 * `stale` everywhere: the source's state, /status, /health, /metrics, the page's badge,
 * Home Assistant availability and the Venus paths; and `up` again when it sends.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { simulateToPort } from "../../../src/cli/simulate.ts";
import { configureLog } from "../../../src/log.ts";
import { VeDirectSource } from "../../../src/sources/vedirect/mod.ts";
import { vedirectSchema } from "../../../src/sources/vedirect/schema.ts";
import { FakeClock } from "../../../src/util/clock.ts";
import { collectingContext } from "../../helpers/context.ts";
import { PtyPair } from "../../helpers/pty.ts";
import { waitFor } from "../../helpers/servers.ts";
import { startVan } from "../../helpers/van.ts";

configureLog({ level: "error" });

function playDevice(port: string) {
  const abort = new AbortController();
  const done = simulateToPort(port, {
    device: "mppt",
    intervalMs: 100,
    count: 0,
    signal: abort.signal,
  })
    .catch(() => 0);
  return { stop: async () => (abort.abort(), await done) };
}

Deno.test("a silent device on an open port goes stale on the source's clock, and up when it sends again", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 15, 2));
  const pty = await PtyPair.create();
  const ctx = collectingContext("mppt1", { clock });
  const config = vedirectSchema.parse({ type: "vedirect", port: pty.device, gap: "80ms" });
  const source = new VeDirectSource(config, ctx);
  await source.start();
  let device = playDevice(pty.peer);
  try {
    await waitFor(() => ctx.samples.length >= 2, { what: "first records" });
    assert.equal(ctx.status.state, "up");
    assert.equal(ctx.status.info.stale_after_ms, 10_000, "a 1 Hz device: 10 s");
    // Sending: however far the clock moves, the device stays fresh.
    // Records after the step (counted from here: more may have come since the first two).
    const n = ctx.samples.length;
    await clock.advance(30_000);
    await waitFor(() => ctx.samples.length >= n + 2, { what: "more records" });
    await clock.advance(1000);
    assert.equal(ctx.status.state, "up");

    // The device stops; socat keeps the port open, so this is no unplug.
    await device.stop();
    await waitFor(async () => {
      await clock.advance(1000);
      return ctx.status.state === "stale";
    }, { what: "stale" });
    assert.equal(ctx.status.info.stale, true);
    assert.match(String(ctx.status.info.last_record_at), /^2026-01-15T02:/);
    assert.equal(ctx.status.counters.opens, 1, "the port stayed open");
    assert.equal(ctx.status.counters.reconnects ?? 0, 0);

    // It sends again: up at its first frame.
    device = playDevice(pty.peer);
    await waitFor(() => ctx.status.state === "up", { what: "up again" });
    assert.equal(ctx.status.info.stale, false);
  } finally {
    await source.stop();
    await device.stop();
    await pty.unplug();
  }
});

/** The value of a Prometheus series (name and labels as printed), or undefined. */
function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("a silent MPPT is stale in /status, /health, /metrics, the page, Home Assistant and Venus", async () => {
  const van = await startVan(
    (url) =>
      // offline_after far away: what flips them is the source's stale, not the sinks' own timer.
      `  ha: {type: homeassistant, url: "${url}", max_wait: 20ms, offline_after: 10m}
  venus: {type: venus, url: "${url}", portal_id: van1, keepalive: false, max_wait: 20ms,
    offline_after: 10m}`,
    { mppt: "stale_after: 2s" },
  );
  const got = new Map<string, string>();
  const sub = await mqtt.connectAsync(van.url, { clientId: "test-observer" });
  sub.on("message", (t, p) => got.set(t, p.toString()));
  await sub.subscribeAsync(["edge-gateway/#", "N/van1/#"]);
  await van.start();
  const get = async (path: string) => {
    const r = await fetch(van.http + path);
    return path === "/metrics" || path === "/" ? await r.text() : await r.json();
  };
  const mpptTopic = () =>
    [...got.keys()].find((t) => /^N\/van1\/solarcharger\/\d+\/Dc\/0\/Voltage$/.test(t));
  try {
    await waitFor(() => got.get("edge-gateway/van/mppt1/availability") === "online", {
      what: "mppt1 online in Home Assistant",
    });
    await waitFor(() => got.get(mpptTopic() ?? "")?.startsWith('{"value"') ?? false, {
      what: "mppt1's Venus paths",
    });
    const before = await get("/status");
    assert.equal(before.sources.mppt1.state, "up");
    assert.equal(before.sources.mppt1.stale, false);
    assert.equal((await get("/health")).components["vedirect.mppt1"], "up");

    await van.silenceMppt();
    await waitFor(async () => (await get("/status")).sources.mppt1.state === "stale", {
      what: "mppt1 stale in /status",
    });
    const status = await get("/status");
    const mppt = status.sources.mppt1;
    assert.equal(mppt.stale, true);
    assert.equal(mppt.stale_after_ms, 2000);
    assert.ok(Date.parse(mppt.last_record_at) > 0, "the time of its last frame");
    assert.equal(mppt.counters.opens, 1, "the port stayed open: no unplug");
    assert.equal(status.sources.bmv1.state, "up", "the BMV is not touched");

    const health = await get("/health");
    assert.equal(health.components["vedirect.mppt1"], "stale");
    assert.equal(health.status, "degraded");

    const metrics: string = await get("/metrics");
    assert.equal(metric(metrics, 'edge_source_stale{source="mppt1",node="mppt1"}'), 1);
    assert.equal(metric(metrics, 'edge_source_stale{source="bmv1",node="bmv1"}'), 0);
    assert.equal(
      metric(metrics, 'edge_component_up{role="source",component="mppt1",kind="vedirect"}'),
      0,
    );
    assert.equal(
      metric(metrics, 'edge_source_last_record_timestamp_seconds{source="mppt1"}'),
      Date.parse(mppt.last_record_at) / 1000,
    );

    // Its last values are not current: left out (a gap in Prometheus); the BMV's stay.
    const voltages = metrics.split("\n").filter((l) =>
      l.startsWith("vedirect_battery_voltage_volts{")
    );
    assert.ok(voltages.some((l) => l.includes('node="bmv1"')), "the BMV's values");
    assert.ok(!voltages.some((l) => l.includes('node="mppt1"')), "no current value for mppt1");

    const page = await get("/");
    const card = page.slice(page.indexOf('<article class="card" data-source="mppt1"'));
    assert.match(
      card.slice(0, card.indexOf("</header>")),
      /<span class="badge warn">stale<\/span>/,
    );

    await waitFor(() => got.get("edge-gateway/van/mppt1/availability") === "offline", {
      what: "mppt1 offline in Home Assistant",
    });
    assert.equal(got.get("edge-gateway/van/bmv1/availability"), "online");
    // Venus: the device's paths are emptied, as a GX does when a device leaves.
    await waitFor(() => got.get(mpptTopic()!) === "", { what: "mppt1's Venus paths emptied" });
    const soc = [...got].find(([t]) => /^N\/van1\/battery\/\d+\/Soc$/.test(t));
    assert.match(soc?.[1] ?? "", /^\{"value"/, "the BMV's paths stay");

    // It sends again: up everywhere.
    van.resumeMppt();
    await waitFor(async () => (await get("/status")).sources.mppt1.state === "up", {
      what: "mppt1 up again",
    });
    assert.equal((await get("/health")).components["vedirect.mppt1"], "up");
    assert.match(await get("/metrics"), /vedirect_battery_voltage_volts\{[^}]*node="mppt1"/);
    await waitFor(() => got.get("edge-gateway/van/mppt1/availability") === "online", {
      what: "mppt1 online again",
    });
    await waitFor(() => got.get(mpptTopic()!)?.startsWith('{"value"') ?? false, {
      what: "mppt1's Venus paths again",
    });
  } finally {
    await sub.endAsync(true);
    await van.stop();
  }
});
