/**
 * Home Assistant's writable entities on real mosquitto, against an MPPT played on a pty that
 * answers HEX: discovery only for the settings the source's `writable` allows; commands from the
 * broker user the ACL lets write go through the settings' checks and audit; what stops charging
 * or cuts a load waits for the confirm button.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { configureLog } from "../../../src/log.ts";
import { HA_WRITES_ACL, waitFor } from "../../helpers/servers.ts";
import { startAuditedVan, startVan } from "../../helpers/van.ts";

configureLog({ level: "error" });

const BASE = "edge-gateway/van";
const SET = `${BASE}/set/mppt1`;
/** The broker's users and the ACL the sink's README gives (only `ha` may publish commands). */
const writesBroker = { users: { gateway: "gw-pass", ha: "ha-pass" }, acl: HA_WRITES_ACL };

Deno.test("HA entities for writable settings only; a number in range applied, out of range and against the battery type refused, load off only once confirmed; each audited", async () => {
  const van = await startAuditedVan(
    (url) =>
      `  ha: {type: homeassistant, url: "${url}", max_wait: 20ms, username: gateway,
    password: gw-pass, writes: {enabled: true, from: ha}}`,
    {
      broker: writesBroker,
      mppt: "writable: [max_charge_current, load_output, float_voltage]",
    },
  );
  const { events } = van;
  const got = new Map<string, string>();
  const client = await mqtt.connectAsync(van.url, {
    clientId: "home-assistant",
    username: "ha",
    password: "ha-pass",
  });
  client.on("message", (t, p) => got.set(t, p.toString()));
  await client.subscribeAsync(["homeassistant/#", `${BASE}/#`]);
  const json = (topic: string) => got.has(topic) ? JSON.parse(got.get(topic)!) : undefined;
  const held = () => json(`${BASE}/mppt1/settings`) ?? {};
  const result = () => json(`${BASE}/mppt1/settings/result`) ?? {};
  const config = (component: string, key: string) =>
    json(`homeassistant/${component}/mppt1/${key}/config`);
  await van.start();
  try {
    await waitFor(() => config("number", "max_charge_current") !== undefined, {
      what: "the writable entities discovered",
    });
    const limit = config("number", "max_charge_current");
    assert.equal(limit.command_topic, `${SET}/max_charge_current`);
    assert.equal(limit.state_topic, `${BASE}/mppt1/settings`);
    // The range a 75/15 takes, the register's resolution, the unit.
    assert.deepEqual([limit.min, limit.max, limit.step, limit.unit_of_measurement], [
      0,
      15,
      0.1,
      "A",
    ]);
    assert.equal(limit.device_class, "current");
    assert.equal(limit.entity_category, "config");
    assert.equal(limit.availability_mode, "all");
    // The float voltage's range is the battery type's safe one (gel: 13.2-13.8 V), not 10-16.5.
    const float = config("number", "float_voltage");
    assert.deepEqual([float.min, float.max, float.step], [13.2, 13.8, 0.01]);
    assert.ok(config("switch", "load_output"), "the load output's switch");
    assert.ok(config("select", "load_output_mode").options.includes("automatic (BatteryLife)"));
    assert.ok(config("button", "confirm"), "the confirm button");
    assert.ok(config("sensor", "last_setting_write"), "the result sensor");
    // Left out of `writable`: no entity.
    await new Promise((r) => setTimeout(r, 300));
    for (
      const [c, k] of [["switch", "device_mode"], ["select", "battery_type"], [
        "number",
        "absorption_voltage",
      ]]
    ) {
      assert.equal(config(c, k), undefined, `${c} ${k} must not be discovered`);
    }
    assert.equal(held().max_charge_current, 15);
    assert.equal(held().load_output, "automatic (BatteryLife)");
    const sink = () => van.agent.control.status().sinks.ha as unknown as { writes: string };
    await waitFor(() => sink().writes === "taken from mqtt user ha", {
      what: "the broker's ACL verified",
    });

    // A number in range, as HA sends it ("10"): applied, the state says what the device holds.
    await client.publishAsync(`${SET}/max_charge_current`, "10");
    await waitFor(() => held().max_charge_current === 10, { what: "10 A held" });
    const read = await van.agent.host.settings.read("mppt1");
    assert.equal(read.settings.find((s) => s.name === "max_charge_current")!.value, 10);
    assert.equal(result().outcome, "applied");
    await waitFor(() => events.some((e) => e.type === "setting_changed"), { what: "the audit" });
    assert.deepEqual(events.find((e) => e.type === "setting_changed"), {
      type: "setting_changed",
      gateway: "van",
      setting: "max_charge_current",
      register: "0xEDF0",
      old: 15,
      new: 10,
      requested: 10,
      by: `homeassistant ${SET}/max_charge_current (mqtt user ha)`,
      outcome: "applied",
    });

    // Out of range (the charger's rating): refused, audited, the state still the device's.
    await client.publishAsync(`${SET}/max_charge_current`, "99");
    await waitFor(() => result().value === 99, { what: "the refusal shown" });
    assert.equal(result().outcome, "refused");
    assert.equal(result().reason, "unsafe_value");
    assert.match(result().message, /outside 0\.\.15 A/);
    assert.equal(held().max_charge_current, 10);

    // Within the register's range but not the battery type's (gel floats at 13.2-13.8 V).
    await client.publishAsync(`${SET}/float_voltage`, "14");
    await waitFor(() => result().setting === "float_voltage", { what: "the float refusal" });
    assert.equal(result().reason, "unsafe_value");
    assert.match(result().message, /safe float range/);
    assert.equal(held().float_voltage, 13.8);

    // Load off from the switch: not without the confirm button.
    await client.publishAsync(`${SET}/load_output`, "OFF");
    await waitFor(() => result().outcome === "confirm_required", {
      what: "the confirmation asked",
    });
    assert.match(result().effect, /load output off/);
    assert.equal(held().load_output, "automatic (BatteryLife)");
    const frames = () => van.agent.control.status().sources.mppt1.device?.values ?? {};
    assert.equal(frames().LOAD, true);
    await client.publishAsync(`${SET}/confirm`, "PRESS");
    await waitFor(() => held().load_output === "off", { what: "the load output off" });
    assert.equal(result().outcome, "applied");
    await waitFor(() => frames().LOAD === false, { what: "the load off in the frames" });
    // The button again, nothing waiting: refused.
    await client.publishAsync(`${SET}/confirm`, "PRESS");
    await waitFor(() => result().outcome === "refused", { what: "nothing to confirm" });
    assert.match(result().reason, /no change waits for a confirmation/);
    // On again needs no confirmation; an automation's JSON with confirm switches it off at once.
    await client.publishAsync(`${SET}/load_output`, "ON");
    await waitFor(() => held().load_output === "on", { what: "the load output on" });
    await client.publishAsync(
      `${SET}/load_output`,
      JSON.stringify({ value: "OFF", confirm: true }),
    );
    await waitFor(() => held().load_output === "off", { what: "off, confirmed in the command" });

    // Every attempt is one audit event: 4 changes (10 A, off, on, off) and 4 refusals (99 A,
    // 14 V, off unconfirmed, the button with nothing waiting).
    await waitFor(() => events.length >= 8, { what: "eight audit events" });
    const changed = events.filter((e) => e.type === "setting_changed");
    const refused = events.filter((e) => e.type === "setting_refused");
    assert.equal(changed.length, 4, JSON.stringify(changed));
    assert.equal(refused.length, 4, JSON.stringify(refused));
    assert.deepEqual(
      refused.map((e) => e.reason),
      ["unsafe_value", "unsafe_value", "confirm_required", refused[3].reason],
    );
    assert.equal(refused[2].setting, "load_output");
    assert.match(String(refused[2].effect), /load output off/);
    assert.equal(
      changed[1].by,
      `homeassistant ${SET}/confirm (mqtt user ha) confirming load_output`,
    );
    assert.equal(van.agent.control.status().sinks.ha.counters.writes, 4);

    // A change made elsewhere (the settings API): shown once Home Assistant comes back (its
    // birth message), which has the gateway read the settings again.
    await van.agent.host.settings.change("mppt1", {
      name: "max_charge_current",
      value: 12,
      by: "test",
    });
    await client.publishAsync("homeassistant/status", "online");
    await waitFor(() => held().max_charge_current === 12, { what: "the new limit read again" });
  } finally {
    await client.endAsync();
    await van.stop().catch(() => {});
  }
});

Deno.test("HA commands while the broker lets anyone publish them: refused, audited, the entity left as the device holds it", async () => {
  // No ACL: an anonymous client may publish the command topics.
  const van = await startAuditedVan((url) =>
    `  ha: {type: homeassistant, url: "${url}", max_wait: 20ms, writes: {enabled: true, from: ha}}`
  );
  const { events } = van;
  const got = new Map<string, string>();
  const client = await mqtt.connectAsync(van.url, { clientId: "anyone" });
  client.on("message", (t, p) => got.set(t, p.toString()));
  await client.subscribeAsync(["homeassistant/#", `${BASE}/#`]);
  const json = (topic: string) => got.has(topic) ? JSON.parse(got.get(topic)!) : undefined;
  await van.start();
  try {
    const sink = () => van.agent.control.status().sinks.ha as unknown as { writes: string };
    await waitFor(() => /anyone|without credentials/.test(sink().writes ?? ""), {
      what: "the open broker found",
    });
    await waitFor(() => json(`${BASE}/mppt1/settings`)?.max_charge_current === 15, {
      what: "the settings shown",
    });
    await client.publishAsync(`${SET}/max_charge_current`, "5");
    await waitFor(() => json(`${BASE}/mppt1/settings/result`)?.outcome === "refused", {
      what: "the refusal shown",
    });
    assert.match(json(`${BASE}/mppt1/settings/result`).reason, /without credentials can publish/);
    assert.equal(json(`${BASE}/mppt1/settings`).max_charge_current, 15);
    await waitFor(() => events.length > 0, { what: "the audit" });
    assert.equal(events[0].type, "setting_refused");
    assert.equal(events[0].setting, "max_charge_current");
    assert.equal(events[0].by, `homeassistant ${SET}/max_charge_current (mqtt publisher unknown)`);
    const read = await van.agent.host.settings.read("mppt1");
    assert.equal(read.settings.find((s) => s.name === "max_charge_current")!.value, 15);
  } finally {
    await client.endAsync();
    await van.stop().catch(() => {});
  }
});

Deno.test("HA: a confirmation pressed after confirm_within is refused and nothing changes; changes made through the API show at once when events are forwarded", async () => {
  const van = await startVan(
    (url) =>
      `  ha: {type: homeassistant, url: "${url}", max_wait: 20ms, username: gateway,
    password: gw-pass, writes: {enabled: true, from: ha}, confirm_within: 1ms,
    forward: [sample, event]}`,
    { broker: writesBroker },
  );
  const got = new Map<string, string>();
  const client = await mqtt.connectAsync(van.url, { username: "ha", password: "ha-pass" });
  client.on("message", (t, p) => got.set(t, p.toString()));
  await client.subscribeAsync(`${BASE}/#`);
  const json = (topic: string) => got.has(topic) ? JSON.parse(got.get(topic)!) : undefined;
  const held = () => json(`${BASE}/mppt1/settings`) ?? {};
  const result = () => json(`${BASE}/mppt1/settings/result`) ?? {};
  await van.start();
  try {
    const sink = () => van.agent.control.status().sinks.ha as unknown as { writes: string };
    await waitFor(() => sink().writes === "taken from mqtt user ha", { what: "writes taken" });
    await waitFor(() => held().device_mode === "on", { what: "the settings shown" });
    await client.publishAsync(`${SET}/device_mode`, "OFF");
    await waitFor(() => result().outcome === "confirm_required", { what: "confirmation asked" });
    assert.match(result().effect, /Switches the charger off/);
    await client.publishAsync(`${SET}/confirm`, "PRESS");
    await waitFor(() => result().outcome === "refused", { what: "the late press refused" });
    assert.match(result().reason, /no change waits for a confirmation/);
    assert.equal(held().device_mode, "on");
    const read = await van.agent.host.settings.read("mppt1", { names: ["device_mode"] });
    assert.equal(read.settings[0].value, "on");

    // Through the API: its audit event reaches the sink, which shows the new value.
    await van.agent.host.settings.change("mppt1", {
      name: "float_voltage",
      value: 13.5,
      by: "test",
    });
    await waitFor(() => held().float_voltage === 13.5, { what: "the API's change shown" });
  } finally {
    await client.endAsync();
    await van.stop().catch(() => {});
  }
});
