import assert from "node:assert/strict";
import { SettingError } from "../../../src/device_settings.ts";
import { configureLog } from "../../../src/log.ts";
import { decodeHex } from "../../../src/sources/vedirect/hex.ts";
import { HexLink } from "../../../src/sources/vedirect/hex_link.ts";
import { DeviceSimulator } from "../../../src/sources/vedirect/simulator.ts";
import { waitFor } from "../../helpers/servers.ts";
import { sourceOnPty } from "../../helpers/source_on_pty.ts";

configureLog({ level: "error" });

/** A source on one end of a pty and a simulated device on the other, seeing its requests. */
function onPty(
  device: "mppt" | "bmv",
  options: {
    silent?: boolean;
    writable?: string[];
    historyEvery?: string;
    config?: Record<string, unknown>;
  } = {},
) {
  return sourceOnPty(device, {
    silent: options.silent,
    config: {
      gap: "80ms",
      history_every: options.historyEvery ?? 0,
      ...(options.writable ? { writable: options.writable } : {}),
      ...options.config,
    },
  });
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

  const change = await dev.source.settings.change("load_output", "off", { confirm: true });
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

  // A number setting by its register: 14.2 V goes out as 1420 (0.01 V) and reads back the same.
  const byRegister = await dev.source.settings.change("0xedf7", 14.2);
  assert.equal(byRegister.setting, "absorption_voltage");
  const again = await dev.source.settings.read();
  assert.equal(again.settings.find((s) => s.name === "absorption_voltage")!.value, 14.2);
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
  await refused("absorption_voltage", 20, "unsafe_value");
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

Deno.test("a charger's settings must agree: the battery type's range, float under absorption, nothing sent when refused", async () => {
  await using dev = await onPty("mppt");
  const { settings } = dev.source;
  const sets = () => dev.requests.filter((r) => r.startsWith(":8")).length;
  const refused = async (name: string, value: unknown, message: RegExp) => {
    const before = sets();
    await assert.rejects(
      settings.change(name, value),
      (e: unknown) =>
        e instanceof SettingError && e.reason === "unsafe_value" && message.test(e.message),
      `${name}=${value}`,
    );
    assert.equal(sets(), before, `no set went out for ${name}=${value}`);
  };
  // The read shows the voltages' safe range for the battery type in force (gel deep discharge).
  const read = (await settings.read()).settings;
  const float = read.find((s) => s.name === "float_voltage")!;
  assert.deepEqual([float.min, float.max], [13.2, 13.8]);
  // Issue #39: float 16 V was taken while absorption was 14.4 V.
  await refused(
    "float_voltage",
    16,
    /float_voltage: 16 V is outside 13\.2\.\.13\.8 V, the safe float range for Gel Victron deep discharge \(14\.4 V\) \(lead-acid gel\/AGM\) on a 12 V system/,
  );
  // User defined: wider ranges, so the cross-setting rules are what stops a bad pair.
  await settings.change("battery_type", "user defined");
  await settings.change("absorption_voltage", 13.9);
  await refused("float_voltage", 14, /14 V is above absorption_voltage \(13\.9 V\)/);
  await settings.change("absorption_voltage", 15);
  await refused("absorption_voltage", 13.5, /13\.5 V is below float_voltage \(13\.8 V\)/);
  // Switching to LiFePO4 would leave absorption at 15 V (it takes 13.8..14.6): refused, saying so.
  await refused(
    "battery_type",
    "LiFePO4 (14.2 V)",
    /would leave absorption is 15 V \(LiFePO4 \(14\.2 V\) takes 13\.8\.\.14\.6 V\).*set absorption_voltage and float_voltage inside its range first/,
  );
  await settings.change("absorption_voltage", 14.2);
  await settings.change("float_voltage", 13.5);
  const lifepo4 = await settings.change("battery_type", "LiFePO4 (14.2 V)");
  assert.equal(lifepo4.new, "LiFePO4 (14.2 V)");
  await refused("absorption_voltage", 14.8, /outside 13\.8\.\.14\.6 V, the safe absorption range/);
  // The charger's rating caps the current, and the message says so.
  await refused(
    "max_charge_current",
    20,
    /20 A is outside 0\.\.15 A \(the charger's rating 15 A\)/,
  );
});

Deno.test("a change that stops charging or cuts the load is a dry run until confirmed", async () => {
  await using dev = await onPty("mppt");
  const { settings } = dev.source;
  const sets = () => dev.requests.filter((r) => r.startsWith(":8")).length;
  for (
    const [name, value] of [["device_mode", "off"], ["load_output", "off"], [
      "max_charge_current",
      0,
    ]]
  ) {
    const error = await settings.change(name as string, value).catch((e) => e);
    assert.ok(error instanceof SettingError, String(error));
    assert.equal(error.reason, "confirm_required", error.message);
    assert.match(error.effect!, /stops charging|loses power/i);
    assert.match(error.message, /"confirm": true/);
  }
  assert.equal(sets(), 0, dev.requests.join(" "));
  // Switching on needs no confirmation; off with it goes out, and the frames say so (OR 0x4).
  await settings.change("load_output", "on");
  const off = await settings.change("device_mode", "off", { confirm: true });
  assert.deepEqual([off.old, off.new], ["on", "off"]);
  const n = dev.ctx.samples.length;
  await waitFor(() => dev.ctx.samples.length >= n + 2, { what: "frames after the set" });
  assert.equal(dev.ctx.samples.at(-1)!.fields.PPV, 0);
});

Deno.test("the configured system voltage scales the ranges; the battery's limit caps the current", async () => {
  await using dev = await onPty("mppt", {
    config: { system_voltage: 24, battery_max_current: 10 },
  });
  const { settings } = await dev.source.settings.read();
  const bounds = (name: string) => {
    const s = settings.find((x) => x.name === name)!;
    return [s.min, s.max];
  };
  assert.deepEqual(bounds("float_voltage"), [26.4, 27.6]);
  assert.deepEqual(bounds("absorption_voltage"), [28.2, 29.6]);
  assert.deepEqual(bounds("max_charge_current"), [0, 10]);
  await assert.rejects(
    dev.source.settings.change("max_charge_current", 12),
    (e: unknown) =>
      e instanceof SettingError && e.reason === "unsafe_value" &&
      /12 A is outside 0\.\.10 A \(the charger's rating 15 A, the battery's limit 10 A \(battery_max_current\)\)/
        .test(e.message),
  );
  assert.equal((await dev.source.settings.change("max_charge_current", 8)).new, 8);
});
