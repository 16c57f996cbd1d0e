/**
 * Home Assistant's Victron integration against the Venus sink, on real mosquitto: the library
 * (victron-mqtt) replayed as the integration drives it (tests/helpers/victron_mqtt.ts).
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { configureLog } from "../../../src/log.ts";
import { RepublishTokens } from "../../../src/sinks/venus/keepalive.ts";
import { withBounds } from "../../../src/sinks/venus/limits.ts";
import { defaultInstance } from "../../../src/sinks/venus/paths.ts";
import { runCli } from "../../helpers/cli.ts";
import { startGateway } from "../../helpers/gateway.ts";
import { waitFor } from "../../helpers/servers.ts";
import { startVan, startVanProcess } from "../../helpers/van.ts";
import { VictronMqttReplay } from "../../helpers/victron_mqtt.ts";

configureLog({ level: "error" });

const PORTAL = "c0619ab00003";

Deno.test("republish tokens: three a second, as dbus-flashmq's bucket, refilled each second", () => {
  const tokens = new RepublishTokens(3);
  assert.deepEqual([0, 10, 999, 999].map((t) => tokens.take(t)), [true, true, true, false]);
  assert.equal(tokens.take(1000), true);
});

Deno.test("bounds beside a value, as a GX's item with min/max; an empty payload stays empty", () => {
  assert.equal(withBounds('{"value":15}', { min: 0, max: 35 }), '{"value":15,"min":0,"max":35}');
  assert.equal(withBounds("", { min: 0, max: 35 }), "");
  assert.equal(withBounds('{"value":15}', undefined), '{"value":15}');
});

Deno.test("victron-mqtt: the config flow's double connect gets every metric at the first refresh; a refused write is republished; a device gap brings the charge current limit back", async () => {
  const van = await startVan((url) =>
    `  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, instances: {bmv1: 512},
    offline_after: 1s, max_wait: 20ms}`
  );
  const charger = `solarcharger/${defaultInstance("mppt1")}`;
  const replays: VictronMqttReplay[] = [];
  const hub = (id: string) => {
    const r = new VictronMqttReplay(van.url, id);
    replays.push(r);
    return r;
  };
  try {
    await van.start();
    // The gateway has read the charger's limit over HEX before Home Assistant is set up.
    await waitFor(() => van.agent.control.status().sinks.venus.processed > 0, { what: "records" });
    const probe = hub("probe");
    await probe.connect(PORTAL);
    await waitFor(
      async () => {
        await probe.keepalive(true);
        await new Promise((r) => setTimeout(r, 300));
        return probe.value(`${charger}/Settings/ChargeCurrentLimit`) === 15;
      },
      { what: "the charge current limit published" },
    );
    await probe.disconnect();
    // The gateway ran before Home Assistant is set up: the probe's tokens are in the past.
    await new Promise((r) => setTimeout(r, 1100));

    // The config flow validates with one Hub and sets up with another at once: both refresh.
    const flow = hub("ha-flow");
    await flow.connect(PORTAL);
    await waitFor(() => flow.firstRefreshAt !== null, { what: "the flow's first refresh" });
    await flow.disconnect();
    const ha = hub("ha-setup");
    await ha.connect(PORTAL);
    await waitFor(() => ha.firstRefreshAt !== null, { what: "the setup's first refresh" });
    assert.deepEqual(ha.warnings, [], "the firmware version is found");
    assert.equal(ha.firmwareSupported, true, "v3.50 or later: staleness checks on");
    assert.deepEqual([...ha.metrics.keys()].sort(), [...flow.metrics.keys()].sort());
    // Every metric the gateway has: all the probe's, made over several forced refreshes.
    const missing = [...probe.metrics.keys()].filter((t) => !ha.metrics.has(t));
    assert.deepEqual(missing, []);
    for (
      const path of [
        `${charger}/Settings/ChargeCurrentLimit`,
        `${charger}/Mode`,
        `${charger}/Yield/Power`,
        "battery/512/Soc",
        "heartbeat",
        "platform/0/Firmware/Installed/Version",
      ]
    ) assert.notEqual(ha.value(path), undefined, path);
    // The number's range is the charger's, from min/max beside the value.
    const number = ha.metrics.get(`N/${PORTAL}/${charger}/Settings/ChargeCurrentLimit`)!;
    assert.equal(number.kind, "NUMBER");
    assert.ok(number.min! < number.max! && number.max! >= 15, JSON.stringify(number));
    const devices = new Set([...ha.metrics.keys()].map((t) => t.split("/").slice(2, 4).join("/")));
    assert.ok(devices.size >= 3, [...devices].join(", "));

    // A refused write: the value is published again, the entity snaps back to it.
    const limit = `N/${PORTAL}/${charger}/Settings/ChargeCurrentLimit`;
    let from = ha.log.length;
    await ha.set(`${charger}/Settings/ChargeCurrentLimit`, 99);
    await waitFor(() => ha.log.slice(from).some(([, t]) => t === limit), {
      what: "the limit republished after the refusal",
    });
    assert.equal(ha.value(`${charger}/Settings/ChargeCurrentLimit`), 15);
    from = ha.log.length;
    await ha.set(`${charger}/Mode`, 2);
    await waitFor(() => ha.log.slice(from).some(([, t]) => t.endsWith(`${charger}/Mode`)), {
      what: "Mode republished after the refusal",
    });
    assert.equal(ha.value(`${charger}/Mode`), 1);

    // A device gap (unplugged longer than offline_after): removed, then back with its limit,
    // read again over HEX, in the values and in the next full publish.
    await van.unplugMppt();
    await waitFor(
      () => ha.log.some(([, t, p]) => t.endsWith(`${charger}/ProductName`) && p === ""),
      {
        what: "the charger removed",
      },
    );
    from = ha.log.length;
    await van.replugMppt();
    await waitFor(() => ha.log.slice(from).some(([, t, p]) => t === limit && p !== ""), {
      what: "the limit read again",
    });
    await new Promise((r) => setTimeout(r, 1000)); // a token in the next second
    from = ha.log.length;
    await ha.keepalive(true);
    const completed = () =>
      ha.log.slice(from).findIndex(([, t, p]) =>
        t.endsWith("/full_publish_completed") && p.includes(`ha-setup-`)
      );
    await waitFor(() => completed() >= 0, { what: "the full publish" });
    const full = ha.log.slice(from, from + completed());
    assert.ok(full.some(([, t, p]) => t === limit && JSON.parse(p).value === 15), "in it");
  } finally {
    for (const r of replays) await r.disconnect();
    await van.stop();
  }
});

Deno.test("victron-mqtt: a gateway killed or hung is seen within 60 s; a restarted one publishes without a keepalive", async () => {
  const van = await startVanProcess(
    (url) =>
      `  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, instances: {bmv1: 512}, max_wait: 20ms,
    broker_keepalive: 2s}
  ha: {type: homeassistant, url: "${url}", max_wait: 20ms, broker_keepalive: 2s}`,
    { bmv: true },
  );
  const { broker, url, yaml } = van;
  let gw = van.gw;
  const ha = new VictronMqttReplay(url, "ha-watch");
  const beat = () => ha.value("heartbeat");
  // Home Assistant's MQTT discovery (the homeassistant sink): every entity's availability
  // includes the gateway's status, which the broker's will sets to "offline".
  const discovery = await mqtt.connectAsync(url, { clientId: "ha-discovery" });
  let status = "";
  discovery.on("message", (_t, p) => status = p.toString());
  await discovery.subscribeAsync("edge-gateway/van/status");
  try {
    await waitFor(async () => (await gw.status()).sinks.venus.processed > 0, { what: "records" });
    await ha.connect(PORTAL);
    await waitFor(() => ha.firstRefreshAt !== null, { what: "the first refresh" });
    await waitFor(
      async () => {
        if (ha.value("battery/512/Soc") !== undefined) return true;
        await ha.keepalive(true); // the library's forced refresh, sooner
        await new Promise((r) => setTimeout(r, 400));
        return false;
      },
      { what: "the battery's metrics" },
    );
    await waitFor(() => Number(beat()) > 0, { what: "heartbeats" });

    // kill -9: the broker sends the gateway's will, heartbeat 0.
    gw.child.kill("SIGKILL");
    await gw.child.status;
    await waitFor(() => beat() === 0, { what: "heartbeat 0 after kill -9", timeoutMs: 60_000 });
    await waitFor(() => status === "offline", { what: "every entity unavailable after kill -9" });

    // Restarted: values flow at once, without waiting for the client's next keepalive (the
    // replay sends none from here on).
    const from = ha.log.length;
    gw = await startGateway(yaml, { dir: gw.dir });
    await waitFor(() => Number(beat()) > 0, { what: "heartbeats from the restarted gateway" });
    await waitFor(() => status === "online", { what: "entities available again" });
    await waitFor(() => ha.log.slice(from).some(([, t, p]) => t.endsWith("/Soc") && p !== ""), {
      what: "values from the restarted gateway",
    });

    // Hung (SIGSTOP): no pings, the broker gives up after 1.5 x broker_keepalive: heartbeat 0.
    gw.child.kill("SIGSTOP");
    await waitFor(() => beat() === 0, { what: "heartbeat 0 after a hang", timeoutMs: 60_000 });
    await waitFor(() => status === "offline", { what: "every entity unavailable after a hang" });
    gw.child.kill("SIGCONT");
  } finally {
    await discovery.endAsync();
    await ha.disconnect();
    await gw.stop().catch(() => "");
    await broker.stop();
  }
});

Deno.test("a broker that stops first (same host shutting down): the gateway still stops cleanly", async () => {
  const { broker, gw } = await startVanProcess(
    (url) =>
      `  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, qos: 1, keepalive: false}`,
    { gateway: "stop_timeout: 10s" },
  );
  try {
    await waitFor(async () => (await gw.status()).sinks.venus.processed > 0, { what: "records" });
    // Both go at once: the goodbye is published to a broker that answers no more.
    const stopped = broker.stop();
    gw.child.kill("SIGTERM");
    const { code } = await gw.child.status;
    await stopped;
    // Past stop_timeout the gateway gives up and exits 1; a clean stop is 0.
    assert.equal(code, 0, (await gw.stop()).slice(-1000));
  } finally {
    await gw.stop().catch(() => "");
    await broker.stop().catch(() => {});
  }
});

Deno.test("victron-mqtt: a charger whose limit may not be written offers a number of its value alone", async () => {
  const { broker, url, gw } = await startVanProcess(
    (url) => `  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, max_wait: 20ms}`,
    {
      sources: `  open: {type: vedirect, simulate: mppt, interval: 200ms}
  locked: {type: vedirect, simulate: mppt, interval: 200ms, writable: []}`,
    },
  );
  const limit = (node: string) =>
    `N/${PORTAL}/solarcharger/${defaultInstance(node)}/Settings/ChargeCurrentLimit`;
  const probe = new VictronMqttReplay(url, "probe");
  const ha = new VictronMqttReplay(url, "ha-locked");
  try {
    await probe.connect(PORTAL);
    await waitFor(
      async () => {
        await probe.keepalive(true);
        await new Promise((r) => setTimeout(r, 300));
        return probe.metrics.has(limit("open")) && probe.metrics.has(limit("locked"));
      },
      { what: "both limits read over HEX" },
    );
    await new Promise((r) => setTimeout(r, 1100)); // the probe's tokens in the past
    await ha.connect(PORTAL);
    await waitFor(() => ha.firstRefreshAt !== null, { what: "the first refresh" });
    const open = ha.metrics.get(limit("open"))!;
    const locked = ha.metrics.get(limit("locked"))!;
    assert.ok(open.min! < open.max!, JSON.stringify(open));
    assert.equal(locked.min, locked.value, JSON.stringify(locked));
    assert.equal(locked.max, locked.value, JSON.stringify(locked));
    // A write all the same is refused, and the value is published again.
    const from = ha.log.length;
    await ha.set(`solarcharger/${defaultInstance("locked")}/Settings/ChargeCurrentLimit`, 5);
    await waitFor(() => ha.log.slice(from).some(([, t]) => t === limit("locked")), {
      what: "the locked limit republished",
    });
    assert.equal(ha.metrics.get(limit("locked"))!.value, locked.value);
  } finally {
    await probe.disconnect();
    await ha.disconnect();
    await gw.stop();
    await broker.stop();
  }
});

Deno.test("victron-mqtt: after a broker outage longer than offline_after the charge current limit is back", async () => {
  const { broker, url, gw } = await startVanProcess((url) =>
    `  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, max_wait: 20ms, offline_after: 1s,
    backoff_min: 3s, backoff_max: 3s}`
  );
  const limit = `N/${PORTAL}/solarcharger/${defaultInstance("mppt1")}/Settings/ChargeCurrentLimit`;
  const limitSeen = async (id: string) => {
    const ha = new VictronMqttReplay(url, id);
    try {
      await ha.connect(PORTAL);
      await waitFor(
        async () => {
          await ha.keepalive(true);
          await new Promise((r) => setTimeout(r, 400));
          return ha.metrics.has(limit);
        },
        { what: `the limit in a full publish (${id})` },
      );
    } finally {
      await ha.disconnect();
    }
  };
  try {
    await limitSeen("ha-before");
    await broker.kill();
    // Deliveries back off longer than offline_after (as the default 60 s backoff outgrows the
    // default 30 s): the device expires from the cache while the broker is gone.
    await waitFor(
      async () => ((await gw.status()).sinks.venus.counters.devices_forgotten ?? 0) > 0,
      {
        what: "the device expired during the outage",
      },
    );
    await broker.start();
    await limitSeen("ha-after");
  } finally {
    await gw.stop();
    await broker.stop();
  }
});

Deno.test("venus-gone (the unit's ExecStopPost) empties every path a killed or hung gateway left", async () => {
  const { broker, url, gw } = await startVanProcess(
    (url) =>
      `  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, instances: {bmv1: 512}, max_wait: 20ms}`,
    { bmv: true },
  );
  // A client that honours empty payloads as a GX means them (the service is gone).
  const client = await mqtt.connectAsync(url, { clientId: "gx-semantics" });
  const shown = new Map<string, string>();
  client.on("message", (t, p) => shown.set(t, p.toString()));
  try {
    await client.subscribeAsync(`N/${PORTAL}/#`);
    await waitFor(
      () =>
        [...shown.keys()].some((t) => t.includes("/battery/512/")) &&
        [...shown.keys()].some((t) => t.includes("/solarcharger/")),
      { what: "both devices' values" },
    );
    // Hung, then killed by systemd's watchdog (or killed outright): nothing from the process.
    gw.child.kill("SIGSTOP");
    gw.child.kill("SIGKILL");
    await gw.child.status;
    const seen = [...shown.keys()].filter((t) => /\/(solarcharger|battery)\//.test(t));
    const { code, stderr } = await runCli(["venus-gone", "--config", `${gw.dir}/gateway.yml`]);
    assert.equal(code, 0, stderr);
    await waitFor(() => seen.every((t) => shown.get(t) === ""), {
      what: "every device path emptied",
      timeoutMs: 60_000,
    });
    await waitFor(() => shown.get(`N/${PORTAL}/heartbeat`) === '{"value":0}', { what: "hb 0" });

    // No broker to tell: exit 1 naming the sink and the broker (the unit ignores it).
    await client.endAsync();
    await broker.stop();
    const down = await runCli(["venus-gone", "--config", `${gw.dir}/gateway.yml`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /sink venus: MQTT broker mqtt:\/\/127\.0\.0\.1:\d+ .*did not answer/);
  } finally {
    await client.endAsync().catch(() => {});
    await gw.stop().catch(() => "");
    await broker.stop().catch(() => {});
  }
});
