/**
 * The GX protocol around the Venus paths, on real mosquitto, with a client that
 * behaves as Home Assistant's Victron libraries do (victron-mqtt, victronvenusclient):
 * find the installation by its retained serial, keep it alive with echoes and
 * `suppress-republish`, watch the heartbeat, see a device leave.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { configureLog } from "../../../src/log.ts";
import { venusSchema } from "../../../src/sinks/venus/mod.ts";
import { keepaliveOptions } from "../../../src/sinks/venus/keepalive.ts";
import { waitFor } from "../../helpers/servers.ts";
import { startVan, vanClock as clock } from "../../helpers/van.ts";

configureLog({ level: "error" });

/** The keepalive victron-mqtt sends: `force` asks for a full republish. */
function keepalive(echo: string, force: boolean): string {
  const options: unknown[] = [{ "full-publish-completed-echo": echo }];
  if (!force) options.push("suppress-republish");
  return JSON.stringify({ "keepalive-options": options });
}

Deno.test("keepalive options: the echo and suppress-republish, from what the libraries send", () => {
  assert.deepEqual(keepaliveOptions(keepalive("ha-1", true)), { echo: "ha-1", suppress: false });
  assert.deepEqual(keepaliveOptions(keepalive("ha-2", false)), { echo: "ha-2", suppress: true });
  assert.deepEqual(keepaliveOptions(""), { echo: undefined, suppress: false });
  assert.deepEqual(keepaliveOptions("{not json"), { echo: undefined, suppress: false });
  assert.deepEqual(keepaliveOptions('{"keepalive-options": "x"}'), {
    echo: undefined,
    suppress: false,
  });
});

Deno.test("a config from round one (min_republish) still loads; the bucket is 3 a second", () => {
  const config = venusSchema.parse({ type: "venus", url: "mqtt://127.0.0.1", min_republish: "5s" });
  assert.equal(config.min_republish, 5000);
  assert.equal(config.republish_per_second, 3);
});

Deno.test("a Victron MQTT client finds the installation, gets its echo, is not flooded, sees a device leave", async () => {
  const van = await startVan((url) =>
    `  venus: {type: venus, url: "${url}", portal_id: c0619ab00001, instances: {bmv1: 512},
    offline_after: 1s, max_wait: 20ms, heartbeat_every: 300ms}`
  );
  const agent = van.agent;
  const got = new Map<string, string>();
  const log: [number, string, string][] = [];
  const client = await mqtt.connectAsync(van.url, { clientId: "ha-victron" });
  client.on("message", (t, p) => {
    got.set(t, p.toString());
    log.push([Date.now(), t, p.toString()]);
  });
  await van.start();
  const sent = (suffix: string, since = 0) =>
    log.filter(([at, t]) => at >= since && t.endsWith(suffix)).length;
  try {
    // 1. The installation is found by the one retained topic, as the libraries look for it.
    await client.subscribeAsync("N/+/system/0/Serial");
    await waitFor(() => got.has("N/c0619ab00001/system/0/Serial"), { what: "retained serial" });
    assert.deepEqual(JSON.parse(got.get("N/c0619ab00001/system/0/Serial")!), {
      value: "c0619ab00001",
    });
    await client.subscribeAsync("N/c0619ab00001/#");
    // A gateway that just started serves at once, as if kept alive (clients that were there
    // before a restart see values without asking).
    await waitFor(
      () => sent("/heartbeat") > 0 && log.some(([, t]) => t.includes("/battery/512/")),
      {
        what: "values at start",
      },
    );

    // 2. A forced keepalive: every value, then full_publish_completed with our echo (how soon is
    // no test's business on a loaded machine: a liveness bound).
    let at = Date.now();
    await client.publishAsync("R/c0619ab00001/keepalive", keepalive("ha-victron-1", true));
    await waitFor(() => sent("/full_publish_completed", at) === 1, {
      what: "full_publish_completed",
    });
    const done = JSON.parse(got.get("N/c0619ab00001/full_publish_completed")!);
    assert.equal(done["full-publish-completed-echo"], "ha-victron-1");
    assert.ok(Math.abs(done.value - clock.now() / 1000) < 60, "unix seconds (not ms)");
    const completedAt = log.findIndex(([, t]) => t.endsWith("/full_publish_completed"));
    const before = log.slice(0, completedAt).map(([, t]) => t);
    assert.ok(before.includes("N/c0619ab00001/battery/512/Soc"), "values before the completion");
    // victron-mqtt makes its metrics at full_publish_completed: the heartbeat is one of them.
    assert.ok(before.includes("N/c0619ab00001/heartbeat"), "the heartbeat in the full publish");
    assert.ok(before.some((t) => /solarcharger\/\d+\/ProductName$/.test(t)));
    assert.match(
      JSON.parse(got.get("N/c0619ab00001/platform/0/Firmware/Installed/Version")!).value,
      /^v3\.\d+/,
    );
    // Values as decoded, as /status shows them.
    const status = agent.control.status().sources as Record<
      string,
      { device: { values: Record<string, number> } }
    >;
    await waitFor(
      () =>
        JSON.parse(got.get("N/c0619ab00001/battery/512/Soc")!).value ===
          status.bmv1.device.values.SOC,
      { what: "Soc equal to the decoded record" },
    );
    const inst = before.find((t) => t.includes("/solarcharger/"))!.split("/")[3];
    const charger = `N/c0619ab00001/solarcharger/${inst}`;
    assert.equal(JSON.parse(got.get(`${charger}/ProductName`)!).value, "SmartSolar MPPT 75/15");
    assert.equal(typeof JSON.parse(got.get(`${charger}/Yield/System`)!).value, "number");
    // Today's history, read from the charger over HEX (register 0x1050) on its serial line.
    await waitFor(() => got.has(`${charger}/History/Daily/0/TimeInBulk`), { what: "HEX history" });
    const vmax = JSON.parse(got.get(`${charger}/History/Daily/0/MaxBatteryVoltage`)!).value;
    const vmin = JSON.parse(got.get(`${charger}/History/Daily/0/MinBatteryVoltage`)!).value;
    assert.ok(vmax >= vmin && vmin > 10, `${vmin}..${vmax} V`);
    for (const stage of ["Absorption", "Float"]) {
      assert.equal(
        typeof JSON.parse(got.get(`${charger}/History/Daily/0/TimeIn${stage}`)!).value,
        "number",
      );
    }
    assert.ok((agent.control.status().sources.mppt1.counters.history_reads ?? 0) >= 1);
    assert.equal(
      typeof JSON.parse(got.get("N/c0619ab00001/battery/512/TimeToGo")!).value,
      "number",
    );

    // 3. Heartbeat ticking while the client is alive.
    at = Date.now();
    await waitFor(() => sent("/heartbeat", at) >= 2, { what: "heartbeats" });

    // 4. suppress-republish (every 30 s from victron-mqtt): no full republish, changes go on.
    await new Promise((r) => setTimeout(r, 1100)); // a token in the next second
    at = Date.now();
    const names = sent("/ProductName");
    await client.publishAsync("R/c0619ab00001/keepalive", keepalive("ha-victron-2", false));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(sent("/ProductName"), names, "no full republish");
    assert.equal(sent("/full_publish_completed", at), 0);
    await waitFor(() => sent("/Soc", at) + sent("/Dc/0/Voltage", at) > 0, {
      what: "changes still published",
    });

    // 5. Unplug the MPPT: an empty payload on each of its topics; the BMV stays.
    await van.unplugMppt();
    // One empty payload per topic, in the order the topics were first published: the
    // ProductName is not the last of them.
    const paths = ["/ProductName", "/Dc/0/Voltage", "/Yield/Power", "/Connected", "/Serial"];
    await waitFor(() => paths.every((path) => got.get(charger + path) === ""), {
      what: "charger removed: an empty payload on each of its topics",
    });
    assert.notEqual(got.get("N/c0619ab00001/battery/512/Soc"), "");
    // Not replayed by the next full republish.
    await new Promise((r) => setTimeout(r, 1100));
    at = Date.now();
    await client.publishAsync("R/c0619ab00001/keepalive", keepalive("ha-victron-3", true));
    await waitFor(() => sent("/full_publish_completed", at) === 1, { what: "third completion" });
    assert.equal(log.filter(([t0, t]) => t0 >= at && t.startsWith(charger)).length, 0);

    // 6. Plugged back: the charger appears again.
    await van.replugMppt();
    await waitFor(() => (got.get(`${charger}/ProductName`) ?? "") !== "", { what: "back" });
  } finally {
    await client.endAsync(true);
    await van.stop();
  }
});

Deno.test("a started gateway publishes at once, then goes quiet without a keepalive, as a GX", async () => {
  const van = await startVan((url) =>
    `  venus: {type: venus, url: "${url}", portal_id: c0619ab00004, max_wait: 20ms,
    heartbeat_every: 200ms, keepalive_timeout: 1s}`
  );
  const client = await mqtt.connectAsync(van.url, { clientId: "ha-victron-quiet" });
  const log: [number, string][] = [];
  client.on("message", (t) => log.push([performance.now(), t]));
  try {
    await client.subscribeAsync("N/c0619ab00004/#");
    await van.start();
    await waitFor(() => log.some(([, t]) => t.endsWith("/Firmware/Installed/Version")), {
      what: "the firmware at start",
    });
    await waitFor(() => log.some(([, t]) => t.endsWith("/heartbeat")), { what: "heartbeats" });
    // Nobody keeps it alive: after keepalive_timeout the heartbeats and values stop.
    await waitFor(
      () => {
        const quietSince = performance.now() - 1500;
        return log.length > 0 && log.every(([at, t]) => at < quietSince || t.endsWith("/Serial"));
      },
      { what: "quiet without a keepalive" },
    );
    // A keepalive wakes it again.
    const from = log.length;
    await client.publishAsync("R/c0619ab00004/keepalive", "");
    await waitFor(() => log.slice(from).some(([, t]) => t.endsWith("/full_publish_completed")), {
      what: "the full publish",
    });
  } finally {
    await client.endAsync(true);
    await van.stop();
  }
});
