import assert from "node:assert/strict";
import { simulateToPort } from "../../../src/cli/simulate.ts";
import { SettingError } from "../../../src/device_settings.ts";
import { configureLog } from "../../../src/log.ts";
import { decodeHex } from "../../../src/sources/vedirect/hex.ts";
import { HexLink } from "../../../src/sources/vedirect/hex_link.ts";
import { VeDirectSource } from "../../../src/sources/vedirect/mod.ts";
import { vedirectSchema } from "../../../src/sources/vedirect/schema.ts";
import { DeviceSimulator } from "../../../src/sources/vedirect/simulator.ts";
import { collectingContext } from "../../helpers/context.ts";
import { PtyPair } from "../../helpers/pty.ts";
import { waitFor } from "../../helpers/servers.ts";

configureLog({ level: "error" });

/** A source on one end of a pty and a simulated device on the other, seeing its requests. */
async function onPty(
  device: "mppt" | "bmv",
  options: { silent?: boolean; writable?: string[]; historyEvery?: string } = {},
) {
  const pty = await PtyPair.create();
  const ctx = collectingContext(device);
  const config = vedirectSchema.parse({
    type: "vedirect",
    port: pty.device,
    gap: "80ms",
    hex_timeout: "500ms",
    history_every: options.historyEvery ?? 0,
    ...(options.writable ? { writable: options.writable } : {}),
  });
  const source = new VeDirectSource(config, ctx);
  await source.start();
  const requests: string[] = [];
  const abort = new AbortController();
  const playing = simulateToPort(pty.peer, {
    device,
    intervalMs: 100,
    count: 0,
    signal: abort.signal,
    silent: options.silent,
    onRequest: (r) => requests.push(r.trim()),
  }).catch(() => 0);
  await waitFor(() => ctx.samples.length >= 2, { what: "first records" });
  return {
    source,
    ctx,
    requests,
    async [Symbol.asyncDispose]() {
      await source.stop();
      abort.abort();
      await playing;
      await pty.unplug();
    },
  };
}

Deno.test("a HEX set round trip over a pty changes what the next text frame reports", async () => {
  await using dev = await onPty("mppt");
  const { settings } = await dev.source.settings.read();
  const load = settings.find((s) => s.name === "load_output")!;
  assert.equal(load.register, "0xEDAB");
  assert.equal(load.value, "automatic (BatteryLife)");
  assert.equal(settings.find((s) => s.name === "absorption_voltage")!.value, 14.4);
  assert.deepEqual(
    [
      settings.find((s) => s.name === "max_charge_current")!.min,
      settings.find((s) => s.name === "max_charge_current")!.max,
    ],
    [0, 15], // a 75/15: its rated current caps the setting
  );
  assert.equal(dev.ctx.samples.at(-1)!.fields.LOAD, true);

  const change = await dev.source.settings.change("load_output", "off");
  assert.deepEqual(change, {
    node: "mppt",
    setting: "load_output",
    register: "0xEDAB",
    old: "automatic (BatteryLife)",
    new: "off",
    requested: "off",
    outcome: "applied",
  });
  const after = dev.ctx.samples.length;
  await waitFor(() => dev.ctx.samples.length >= after + 2, { what: "frames after the set" });
  assert.equal(dev.ctx.samples.at(-1)!.fields.LOAD, false);
  assert.equal(dev.ctx.samples.at(-1)!.fields.IL, 0);

  // A number setting by its register: 13.9 V goes out as 1390 (0.01 V) and reads back the same.
  const byRegister = await dev.source.settings.change("0xedf7", 13.9);
  assert.equal(byRegister.setting, "absorption_voltage");
  const again = await dev.source.settings.read();
  assert.equal(again.settings.find((s) => s.name === "absorption_voltage")!.value, 13.9);
  assert.ok(dev.requests.some((r) => r.startsWith(":8F7ED00")), dev.requests.join(" "));
});

Deno.test("an out-of-range value or an unknown setting is refused before anything is sent", async () => {
  await using dev = await onPty("mppt", { writable: ["load_output", "absorption_voltage"] });
  const refused = async (name: string, value: unknown, reason: string) => {
    await assert.rejects(
      dev.source.settings.change(name, value),
      (e: unknown) => e instanceof SettingError && e.reason === reason,
      `${name}=${value}`,
    );
  };
  const before = dev.requests.length;
  await refused("absorption_voltage", 20, "invalid_value");
  await refused("absorption_voltage", "high", "invalid_value");
  await refused("load_output", "sometimes", "invalid_value");
  await refused("load_output", 9, "invalid_value");
  await refused("equalisation_voltage", 15, "unknown_setting");
  await refused("0x1234", 1, "unknown_setting"); // a register not in the list
  await refused("0xEDF4", 1500, "unknown_setting"); // equalisation voltage: known, not allowed
  await refused("battery_capacity", 100, "unknown_setting"); // a monitor's, not a charger's
  await refused("max_charge_current", 10, "not_writable"); // left out of `writable`
  assert.equal(dev.requests.length, before, dev.requests.join(" "));
  // The message says what was wrong and the range.
  await assert.rejects(
    dev.source.settings.change("absorption_voltage", 20),
    /absorption_voltage: 20 V is outside 10\.\.16\.5 V/,
  );
});

Deno.test("a device that does not answer HEX times out once, with no retry", async () => {
  await using dev = await onPty("mppt", { silent: true });
  await assert.rejects(
    dev.source.settings.change("load_output", "on"),
    (e: unknown) =>
      e instanceof SettingError && e.reason === "timeout" &&
      /did not answer for 0xEDAB in 500 ms/.test(e.message),
  );
  // Give a retry every chance to show itself: none comes, and no set went out.
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(dev.requests.length, 1, dev.requests.join(" "));
  assert.ok(dev.requests[0].startsWith(":7ABED"), dev.requests[0]);
  // Text frames still flow, and the next request is tried again (once).
  const n = dev.ctx.samples.length;
  await waitFor(() => dev.ctx.samples.length > n, { what: "frames after the timeout" });
  await assert.rejects(dev.source.settings.read(), /did not answer/);
  assert.equal(dev.requests.length, 2);
});

Deno.test("a battery monitor's settings: its capacity set over HEX reads back", async () => {
  await using dev = await onPty("bmv");
  const report = await dev.source.settings.read();
  assert.equal(report.product, "BMV-702");
  assert.equal(report.settings.find((s) => s.name === "battery_capacity")!.value, 200);
  assert.equal(report.settings.find((s) => s.name === "peukert_exponent")!.value, 1.25);
  const change = await dev.source.settings.change("battery_capacity", 400);
  assert.equal(change.old, 200);
  assert.equal(change.new, 400);
  assert.equal((await dev.source.settings.read()).settings[0].value, 400);
});

Deno.test("the device's flags are checked: a parameter error or unknown register is a refusal", async () => {
  const sim = new DeviceSimulator("mppt");
  const link: HexLink = new HexLink((request) => {
    const reply = sim.reply(request, Date.UTC(2026, 5, 1, 12));
    const msg = decodeHex(reply!.trim().slice(1));
    if (!("error" in msg)) queueMicrotask(() => link.answer(msg));
    return Promise.resolve();
  }, { timeoutMs: 1000 });
  // 50.00 V absorption: the device refuses it (ParameterError) and keeps its value.
  await assert.rejects(link.set(0xedf7, 5000, { size: 2 }), /parameter error/);
  assert.equal(sim.settings.get(0xedf7), 1440);
  await assert.rejects(link.set(0x1234, 1, { size: 2 }), /unknown register/);
  const ok = await link.set(0xedf7, 1420, { size: 2 });
  assert.equal(ok.value, 1420);
  assert.equal(sim.settings.get(0xedf7), 1420);
});

Deno.test("a charger's 30 days of yield are read over HEX once, then only today again", async () => {
  await using dev = await onPty("mppt", { historyEvery: "300ms" });
  const { ctx, requests } = dev;
  type Day = { date: string; yield_kwh: number | null; max_power_w: number | null };
  const days = () => ctx.status.info.days as Day[] | undefined;
  await waitFor(() => days()?.length === 30, { what: "30 days of history" });
  const list = days()!;
  assert.ok(list[0].date < list[29].date, "oldest first");
  for (const d of list.slice(0, 29)) {
    assert.ok(d.yield_kwh! >= 0.25 && d.yield_kwh! <= 1.4, JSON.stringify(d));
    assert.ok(d.max_power_w! >= 60 && d.max_power_w! <= 210, JSON.stringify(d));
  }
  // Past days once; today at every read after that.
  const gets = () => requests.filter((r) => r.startsWith(":7")).length;
  const after = gets();
  await waitFor(() => gets() >= after + 2, { what: "two more reads of today" });
  const pastReads = requests.filter((r) => /^:7(5[1-9A-F]|6[0-9A-E])10/.test(r));
  assert.equal(pastReads.length, 29, pastReads.join(" "));
});
