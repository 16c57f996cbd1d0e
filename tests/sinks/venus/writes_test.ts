/**
 * Venus `W/` writes as Home Assistant's victron-mqtt sends them, on real mosquitto,
 * to an MPPT played on a pty that answers HEX; the last will and the clean stop.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { configureLog } from "../../../src/log.ts";
import { defaultInstance } from "../../../src/sinks/venus/paths.ts";
import { VENUS_WRITES_ACL, waitFor } from "../../helpers/servers.ts";
import { startAuditedVan, startVanProcess } from "../../helpers/van.ts";

configureLog({ level: "error" });

const PORTAL = "c0619ab00002";

/** The Venus sink taking W/ writes from broker user `ha`. */
const writableVenus = (url: string) =>
  `  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, keepalive: false, max_wait: 20ms,
    username: gateway, password: gw-pass, writes: {enabled: true, from: ha}}`;
/** The broker's users and the ACL the sink's README gives. */
const writesBroker = { users: { gateway: "gw-pass", ha: "ha-pass" }, acl: VENUS_WRITES_ACL };

Deno.test("W/ writes from the configured broker user change the charger over HEX, one audit event each; refused ones republish the value; a clean stop says so", async () => {
  const van = await startAuditedVan(writableVenus, { broker: writesBroker });
  const { events } = van;
  const got: [string, string][] = [];
  const client = await mqtt.connectAsync(van.url, {
    clientId: "ha-victron-writes",
    username: "ha",
    password: "ha-pass",
  });
  client.on("message", (t, p) => got.push([t, p.toString()]));
  await client.subscribeAsync(`N/${PORTAL}/#`);
  await van.start();
  const n = `N/${PORTAL}/solarcharger/${defaultInstance("mppt1")}`;
  const w = n.replace(/^N/, "W");
  const last = (topic: string) => got.findLast(([t]) => t === topic)?.[1];
  const valueOf = (topic: string) => {
    const p = last(topic);
    return p ? JSON.parse(p).value : undefined;
  };
  const since = (topic: string, from: number) => got.slice(from).filter(([t]) => t === topic);
  try {
    await waitFor(() => valueOf(`${n}/Settings/ChargeCurrentLimit`) === 15, {
      what: "the charge current limit read over HEX and published",
    });
    assert.equal(valueOf(`${n}/Mode`), 1);
    const sink = () => van.agent.control.status().sinks.venus as unknown as { writes: string };
    await waitFor(() => sink().writes === "taken from mqtt user ha", {
      what: "the broker's ACL verified",
    });

    // victron-mqtt's number entity: {"value": 10} on the W/ twin of the N/ topic.
    await client.publishAsync(`${w}/Settings/ChargeCurrentLimit`, JSON.stringify({ value: 10 }));
    await waitFor(() => valueOf(`${n}/Settings/ChargeCurrentLimit`) === 10, {
      what: "the new limit published",
    });
    const read = await van.agent.host.settings.read("mppt1");
    assert.equal(read.settings.find((s) => s.name === "max_charge_current")!.value, 10);
    // One audit event: who (the broker user the ACL lets write), what, old, new, outcome.
    await waitFor(() => events.some((e) => e.type === "setting_changed"), { what: "the audit" });
    const audit = events.filter((e) => e.type === "setting_changed");
    assert.equal(audit.length, 1);
    assert.deepEqual(audit[0], {
      type: "setting_changed",
      gateway: "van",
      setting: "max_charge_current",
      register: "0xEDF0",
      old: 15,
      new: 10,
      requested: 10,
      by: `venus ${w}/Settings/ChargeCurrentLimit (mqtt user ha)`,
      outcome: "applied",
    });

    // The switch: Mode 4 turns the charger off; its frames then say so (OR 0x4).
    await client.publishAsync(`${w}/Mode`, JSON.stringify({ value: 4 }));
    const frames = () => van.agent.control.status().sources.mppt1.device?.values ?? {};
    await waitFor(() => frames().OR === 4, { what: "the charger off in its frames" });
    // Frames from before the change may still be on their way: the ones after it follow them.
    await waitFor(() => valueOf(`${n}/DeviceOffReason`) === 4 && valueOf(`${n}/Mode`) === 4, {
      what: "the off frames published",
    });

    // Refused: out of range, and a Mode a charger does not have. Nothing changes; the value
    // is published again so the client's entity snaps back.
    let from = got.length;
    await client.publishAsync(`${w}/Settings/ChargeCurrentLimit`, JSON.stringify({ value: 99 }));
    await waitFor(() => since(`${n}/Settings/ChargeCurrentLimit`, from).length > 0, {
      what: "the limit republished",
    });
    assert.equal(valueOf(`${n}/Settings/ChargeCurrentLimit`), 10);
    from = got.length;
    await client.publishAsync(`${w}/Mode`, JSON.stringify({ value: 2 }));
    await waitFor(() => since(`${n}/Mode`, from).length > 0, { what: "Mode republished" });
    assert.equal(valueOf(`${n}/Mode`), 4);
    // Unknown paths and other portals are ignored.
    await client.publishAsync(`${w}/Yield/Power`, JSON.stringify({ value: 5 }));
    await client.publishAsync(`W/other/solarcharger/1/Mode`, JSON.stringify({ value: 1 }));
    const status = () => van.agent.control.status().sinks.venus.counters;
    await waitFor(() => (status().writes_ignored ?? 0) >= 1, { what: "ignored write counted" });
    assert.equal(status().writes, 2);
    assert.equal(status().writes_refused, 2);
    // Each attempt is one audit event: 2 applied, 2 refused (99 A, Mode 2), the unknown path
    // (the other portal's write is not the gateway's: never delivered to it).
    await waitFor(() => events.length >= 5, { what: "five audit events" });
    assert.equal(events.filter((e) => e.type === "setting_changed").length, 2);
    const refused = events.filter((e) => e.type === "setting_refused");
    assert.equal(refused.length, 3);
    assert.ok(refused.some((e) => e.setting === "/Yield/Power"), JSON.stringify(refused));
    assert.ok(refused.every((e) => e.outcome === "refused"), JSON.stringify(refused));
    assert.ok(refused.some((e) => e.new === 99 && /invalid|unsafe/.test(String(e.reason))));
    assert.ok(refused.some((e) => e.new === 2 && e.old === 4));

    // A flood of writes: at most 32 wait for the device, the rest are dropped and counted.
    await Promise.all(
      Array.from(
        { length: 300 },
        () =>
          client.publishAsync(`${w}/Settings/ChargeCurrentLimit`, JSON.stringify({ value: 12 })),
      ),
    );
    await waitFor(() => (van.agent.control.status().sinks.venus.dropped.writes_flood ?? 0) > 0, {
      what: "the flood bounded",
    });
    await waitFor(() => valueOf(`${n}/Settings/ChargeCurrentLimit`) === 12, {
      what: "the writes that were taken applied",
    });

    // A value the device's resolution cannot hold: applied as 12.3 A, audited as clamped.
    await client.publishAsync(`${w}/Settings/ChargeCurrentLimit`, JSON.stringify({ value: 12.34 }));
    await waitFor(() => events.some((e) => e.outcome === "clamped"), { what: "the clamp audited" });
    const clamped = events.find((e) => e.outcome === "clamped")!;
    assert.deepEqual([clamped.requested, clamped.new], [12.34, 12.3]);

    // A clean stop: heartbeat 0, the device topics emptied, the retained serial cleared.
    from = got.length;
    await van.stop();
    // Published before the stop returned; the broker passes them on in its own time.
    const after = () => got.slice(from);
    await waitFor(
      () => after().some(([t, p]) => t === `N/${PORTAL}/heartbeat` && p === '{"value":0}'),
      { what: "heartbeat 0 after the stop" },
    );
    await waitFor(() => after().some(([t, p]) => t === `${n}/Mode` && p === ""), {
      what: "the device's Mode emptied",
    });
  } finally {
    await client.endAsync();
    await van.stop().catch(() => {});
  }
});

Deno.test("a charger that does not answer HEX: the W/ write times out, once, as one audit event", async () => {
  const van = await startAuditedVan(writableVenus, {
    broker: writesBroker,
    silent: true,
    hexTimeout: "300ms",
  });
  const { events } = van;
  const client = await mqtt.connectAsync(van.url, { username: "ha", password: "ha-pass" });
  const w = `W/${PORTAL}/solarcharger/${defaultInstance("mppt1")}`;
  const modes: string[] = [];
  client.on("message", (_t, p) => modes.push(p.toString()));
  await client.subscribeAsync(`${w.replace(/^W/, "N")}/Mode`);
  try {
    await van.start();
    const venus = () => van.agent.control.status().sinks.venus;
    await waitFor(() => modes.length > 0, { what: "the charger published" });
    await waitFor(() => (venus() as unknown as { writes: string }).writes.startsWith("taken"), {
      what: "the ACL verified",
    });
    await client.publishAsync(`${w}/Mode`, JSON.stringify({ value: 4 }));
    await waitFor(() => events.length > 0, { what: "the audit" });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0].type, "setting_refused");
    assert.equal(events[0].outcome, "timeout", JSON.stringify(events[0]));
    assert.equal(events[0].setting, "device_mode");
    assert.match(
      `${events[0].reason} ${events[0].error}`,
      /did not answer/,
      JSON.stringify(events[0]),
    );
    assert.equal(venus().counters.writes_refused, 1);
  } finally {
    await client.endAsync();
    await van.stop().catch(() => {});
  }
});

Deno.test("a gateway killed with -9: the broker publishes its last will, heartbeat 0, within seconds", async () => {
  const { broker, url, gw } = await startVanProcess((url) =>
    `  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, keepalive: false, broker_keepalive: 1s, heartbeat_every: 200ms}`
  );
  const client = await mqtt.connectAsync(url, { clientId: "ha-victron-will" });
  const beats: string[] = [];
  client.on("message", (_t, p) => beats.push(p.toString()));
  try {
    await client.subscribeAsync(`N/${PORTAL}/heartbeat`);
    await waitFor(() => beats.length > 0, { what: "heartbeats" });
    assert.notEqual(beats.at(-1), '{"value":0}');
    gw.child.kill("SIGKILL");
    await gw.child.status;
    // Keepalive 1 s: the broker gives up on the silent connection after 1.5 s.
    await waitFor(() => beats.at(-1) === '{"value":0}', {
      what: "the last will",
    });
  } finally {
    await client.endAsync();
    await broker.stop();
  }
});
