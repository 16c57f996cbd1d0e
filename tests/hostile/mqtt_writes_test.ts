/**
 * Attack: anyone on the broker switches the charger off. An anonymous client publishes the
 * Venus writes a GX takes (charger mode off, load output off, charge current limit 0). Writes
 * are off unless the config turns them on, and then only from the broker user the broker's ACL
 * lets publish them; every attempt that reaches the gateway is one audit event.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { defaultInstance } from "../../src/sinks/venus/paths.ts";
import { type GatewayProcess, startGateway } from "../helpers/gateway.ts";
import { startMosquitto, VENUS_WRITES_ACL, waitFor } from "../helpers/servers.ts";

const PORTAL = "c0619ab00003";
const W = `W/${PORTAL}/solarcharger/${defaultInstance("mppt1")}`;
const N = W.replace(/^W/, "N");
/** Off, off, 0 A: what the tester published. */
const ATTACK: [string, unknown][] = [
  [`${W}/Mode`, 4],
  [`${W}/Load/State`, 0],
  [`${W}/Settings/ChargeCurrentLimit`, 0],
];
const BEFORE = {
  device_mode: "on",
  load_output: "automatic (BatteryLife)",
  max_charge_current: 15,
};

type Event = Record<string, unknown>;

async function site(
  venus: string,
  broker: Parameters<typeof startMosquitto>[0] = {},
  options: { homeassistant?: boolean; before?: (url: string) => Promise<void> } = {},
) {
  const mosquitto = await startMosquitto(broker);
  const url = `mqtt://127.0.0.1:${mosquitto.port}`;
  await options.before?.(url);
  const events: Event[] = [];
  const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    events.push(await req.json());
    return new Response(null, { status: 204 });
  });
  const hookPort = (hook.addr as Deno.NetAddr).port;
  const gw = await startGateway((port, data) =>
    `gateway: {id: writes, data_dir: ${data}}
log: {level: warn}
http: {port: ${port}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
sinks:
  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, keepalive: false, max_wait: 20ms, ${venus}}
  hook: {type: webhook, url: "http://127.0.0.1:${hookPort}/", forward: [event], max_wait: 10ms}
${
      options.homeassistant
        ? `  ha: {type: homeassistant, url: "${url}", username: gateway, password: gw-pass}\n`
        : ""
    }`
  );
  const settings = async () => {
    const r = await (await fetch(`${gw.url}/devices/mppt1/settings`)).json();
    const values: Record<string, unknown> = {};
    for (const s of r.settings) if (s.name in BEFORE) values[s.name] = s.value;
    return values;
  };
  return {
    url,
    gw,
    events,
    settings,
    async stop() {
      await gw.stop();
      await hook.shutdown();
      await mosquitto.stop();
    },
  };
}

/** Publishes the attack as a client without credentials; resolves once the broker answered. */
async function attack(url: string, version: 4 | 5 = 4): Promise<void> {
  const anon = await mqtt.connectAsync(url, { clientId: "tester", protocolVersion: version });
  try {
    for (const [topic, value] of ATTACK) {
      await anon.publishAsync(topic, JSON.stringify({ value }), { qos: 1 }).catch(() => {});
    }
  } finally {
    await anon.endAsync();
  }
}

async function alive(gw: GatewayProcess): Promise<void> {
  assert.equal((await gw.health()).code, 200);
  const before = (await gw.status()).sinks.venus.processed;
  await waitFor(async () => (await gw.status()).sinks.venus.processed > before, {
    what: "the Venus sink still publishing",
  });
}

Deno.test("writes off (the default): an anonymous charger off, load off, 0 A change nothing, one audit event each", async () => {
  const s = await site("qos: 1");
  try {
    await s.gw.up("venus.venus");
    const watcher = await mqtt.connectAsync(s.url);
    const modes: unknown[] = [];
    // An empty payload (the clean stop) is no value.
    watcher.on("message", (_t, p) => p.length > 0 && modes.push(JSON.parse(p.toString()).value));
    await watcher.subscribeAsync(`${N}/Mode`);
    // Values go out on change: a keepalive has them all published again.
    await watcher.publishAsync(`R/${PORTAL}/keepalive`, "");
    await waitFor(() => modes.length > 0, { what: "Mode published" });
    await attack(s.url);
    await waitFor(() => s.events.filter((e) => e.type === "setting_refused").length === 3, {
      what: "three refused writes audited",
    });
    await watcher.endAsync();
    assert.deepEqual(await s.settings(), BEFORE);
    const audit = s.events.filter((e) => e.type === "setting_refused");
    assert.deepEqual(audit.map((e) => [e.setting, e.old, e.new, e.outcome]), [
      ["device_mode", 1, 4, "refused"],
      ["load_output", 1, 0, "refused"],
      ["max_charge_current", 15, 0, "refused"],
    ]);
    for (const e of audit) {
      assert.match(String(e.reason), /writes disabled/);
      assert.match(String(e.by), /^venus W\/.* \(mqtt publisher unknown\)$/);
    }
    assert.equal(s.events.filter((e) => e.type === "setting_changed").length, 0);
    const status = (await s.gw.status()).sinks.venus;
    assert.equal(status.counters.writes_refused, 3);
    assert.equal(status.counters.writes ?? 0, 0);
    assert.match(String(status.writes), /^refused: writes disabled/);
    assert.ok(modes.every((m) => m === 1), "the charger stayed on");
    await alive(s.gw);
  } finally {
    await s.stop();
  }
});

Deno.test("writes on, but the broker lets anyone publish W/: the gateway finds out and refuses them", async () => {
  const s = await site("writes: {enabled: true, from: ha}");
  try {
    await waitFor(
      async () => /without credentials/.test(String((await s.gw.status()).sinks.venus.writes)),
      {
        what: "the open broker found",
      },
    );
    await attack(s.url);
    await waitFor(() => s.events.filter((e) => e.type === "setting_refused").length === 3, {
      what: "three refused writes audited",
    });
    assert.deepEqual(await s.settings(), BEFORE);
    for (const e of s.events) assert.match(String(e.reason), /without credentials can publish/);
    const log = await s.gw.stop();
    assert.match(log, /MQTT writes refused: the broker lets anyone publish them/);
    // The fix names the page and heading that hold the ACL (tests/docs_test.ts checks they exist).
    assert.match(log, /ACL in src\/sinks\/venus\/README\.md, \\?"The broker's ACL\\?"/);
  } finally {
    await s.stop();
  }
});

Deno.test("writes on from user ha, the broker's ACL enforcing it: anonymous writes never arrive, ha's is applied and audited once", async () => {
  const s = await site("username: gateway, password: gw-pass, writes: {enabled: true, from: ha}", {
    users: { gateway: "gw-pass", ha: "ha-pass" },
    acl: VENUS_WRITES_ACL,
  }, { homeassistant: true });
  try {
    await waitFor(
      async () => (await s.gw.status()).sinks.venus.writes === "taken from mqtt user ha",
      {
        what: "the ACL verified",
      },
    );
    // MQTT 3.1.1: the broker drops them silently; MQTT 5: PUBACK 0x87 Not authorized.
    await attack(s.url, 4);
    await attack(s.url, 5);
    const ha = await mqtt.connectAsync(s.url, { username: "ha", password: "ha-pass" });
    // The same ACL serves the Home Assistant sink: ha sees its discovery and states.
    const seen = new Set<string>();
    ha.on("message", (t) => seen.add(t.split("/")[0]));
    await ha.subscribeAsync(["homeassistant/#", "edge-gateway/#"]);
    await waitFor(() => seen.has("homeassistant") && seen.has("edge-gateway"), {
      what: "Home Assistant discovery and states under the ACL",
    });
    await ha.publishAsync(`${W}/Settings/ChargeCurrentLimit`, JSON.stringify({ value: 10 }), {
      qos: 1,
    });
    await ha.endAsync();
    await waitFor(() => s.events.length === 1, { what: "ha's write audited" });
    assert.deepEqual(await s.settings(), { ...BEFORE, max_charge_current: 10 });
    const [e] = s.events;
    assert.equal(e.type, "setting_changed");
    assert.equal(e.outcome, "applied");
    assert.deepEqual([e.setting, e.old, e.new], ["max_charge_current", 15, 10]);
    assert.match(String(e.by), /\(mqtt user ha\)$/);
    await alive(s.gw);
    // Nothing more came: the anonymous writes never reached the gateway.
    assert.equal(s.events.length, 1);
  } finally {
    await s.stop();
  }
});

Deno.test("writes on from user ha, a broker without anonymous access: the check sees the refused connection and takes writes", async () => {
  const s = await site("username: gateway, password: gw-pass, writes: {enabled: true, from: ha}", {
    users: { gateway: "gw-pass", ha: "ha-pass" },
    acl: VENUS_WRITES_ACL,
    anonymous: false,
  });
  try {
    await waitFor(
      async () => (await s.gw.status()).sinks.venus.writes === "taken from mqtt user ha",
      {
        what: "the ACL verified",
      },
    );
    await alive(s.gw);
  } finally {
    await s.stop();
  }
});

Deno.test("MQTT 3.1.1 (no PUBACK codes): the probe's message not arriving shows the ACL; an open broker is still found", async () => {
  const venus = "protocol_version: 4, username: gateway, password: gw-pass, " +
    "writes: {enabled: true, from: ha}";
  const users = { gateway: "gw-pass", ha: "ha-pass" };
  const closed = await site(venus, { users, acl: VENUS_WRITES_ACL });
  try {
    await waitFor(
      async () => (await closed.gw.status()).sinks.venus.writes === "taken from mqtt user ha",
      { what: "the ACL verified" },
    );
  } finally {
    await closed.stop();
  }
  const open = await site(venus, { users });
  try {
    await waitFor(
      async () => /without credentials/.test(String((await open.gw.status()).sinks.venus.writes)),
      { what: "the open broker found" },
    );
  } finally {
    await open.stop();
  }
});

Deno.test("a retained write, even from user ha, is refused: the broker replays it at every start", async () => {
  const users = { gateway: "gw-pass", ha: "ha-pass" };
  const s = await site("username: gateway, password: gw-pass, writes: {enabled: true, from: ha}", {
    users,
    acl: VENUS_WRITES_ACL,
  }, {
    before: async (url) => {
      const ha = await mqtt.connectAsync(url, { username: "ha", password: "ha-pass" });
      await ha.publishAsync(`${W}/Mode`, JSON.stringify({ value: 4 }), { qos: 1, retain: true });
      await ha.endAsync();
    },
  });
  try {
    await waitFor(() => s.events.length === 1, { what: "the retained write audited" });
    assert.equal(s.events[0].type, "setting_refused");
    assert.match(String(s.events[0].reason), /retained write/);
    await waitFor(
      async () => (await s.gw.status()).sinks.venus.writes === "taken from mqtt user ha",
      {
        what: "the ACL verified",
      },
    );
    assert.deepEqual(await s.settings(), BEFORE);
    await alive(s.gw);
  } finally {
    await s.stop();
  }
});
