/**
 * Issue #38, item 6: reload storms. 60 SIGHUPs while QoS 1 messages flow (`ack: commit`), a
 * changed MQTT source on some of them (it restarts) and none on the others: the broker ends with
 * the gateway's own connections and no more, every message is stored once, RSS stays flat, and
 * ingest still flows after the storm.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { mqttSourceSchema } from "../../src/sources/mqtt/schema.ts";
import { startGateway } from "../helpers/gateway.ts";
import { influxQuery, startInfluxd, startMosquitto, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

const NODES = 4;
const SIGHUPS = 60;

/** The gateway's config; `variant` changes the MQTT source (a reload restarts it). */
function gatewayYaml(
  ports: { broker: number; influx: number },
  connections: number,
  variant: number,
) {
  return (port: number, data: string) =>
    `gateway: {id: storm, data_dir: ${data}}
log: {level: warn}
http: {port: ${port}}
sources:
  units:
    type: mqtt
    url: mqtt://127.0.0.1:${ports.broker}
    topics: ["storm/+/v"]
    ack: commit
    connections: ${connections}
    max_nodes: ${1000 + variant}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${ports.influx}", database: storm, create_database: true, max_wait: 100ms}
`;
}

/** Publishes unique numbers (QoS 1) at a steady pace until stopped; resolves with the count. */
function flow(port: number, options: { from: number; max: number }) {
  let stopped = false;
  const done = (async () => {
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "storm-pub" });
    let i = options.from;
    try {
      while (!stopped && i < options.from + options.max) {
        const batch = [];
        for (let k = 0; k < 10; k++, i++) {
          batch.push(pub.publishAsync(`storm/n${i % NODES}/v`, `{"seq":${i}}`, { qos: 1 }));
        }
        await Promise.all(batch);
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await pub.endAsync();
    }
    return i - options.from;
  })();
  return {
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/** The broker's count of connected clients ($SYS, every second). */
async function watchClients(port: number) {
  const seen = { connected: -1 };
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "storm-watch" });
  c.on("message", (_t, p) => seen.connected = Number(p.toString()));
  await c.subscribeAsync("$SYS/broker/clients/connected");
  return { seen, close: () => c.endAsync() };
}

/** Established TCP connections to the broker's port, as the kernel lists them (`ss`). */
async function brokerConnections(port: number): Promise<number> {
  const out = await new Deno.Command("ss", {
    args: ["-Htn", "state", "established", `( dport = :${port} )`],
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim()).length;
}

/** Points, distinct `seq` values and their sum, as influxd counts them. */
async function delivered(port: number): Promise<[number, number, number]> {
  const series = await influxQuery(port, {
    db: "storm",
    q: 'SELECT count("seq"), count(distinct("seq")), sum("seq") FROM "mqtt"',
  });
  const row = series[0]?.values[0] ?? [0, 0, 0, 0];
  return [Number(row[1]), Number(row[2]), Number(row[3])];
}

/** Writes a file the way editors and config tools do: whole, by a rename. */
async function replaceFile(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, text);
  await Deno.rename(`${path}.tmp`, path);
}

async function storm(connections: number): Promise<void> {
  const broker = await startMosquitto({ config: "sys_interval 1\n" });
  const influx = await startInfluxd();
  const ports = { broker: broker.port, influx: influx.port };
  const watch = await watchClients(broker.port);
  const gw = await startGateway(gatewayYaml(ports, connections, 0));
  const file = `${gw.dir}/gateway.yml`;
  const write = (variant: number) =>
    replaceFile(file, gatewayYaml(ports, connections, variant)(gw.port, `${gw.dir}/data`));
  try {
    await gw.up("mqtt.units");
    // The gateway's connections, the watcher: the count the broker must come back to.
    const expected = connections + 1;
    await waitFor(() => watch.seen.connected === expected, { what: `${expected} clients` });
    const publishing = flow(broker.port, { from: 0, max: 50_000 });
    await waitFor(async () => (await gw.status()).sources.units.processed >= 1000, {
      what: "messages flowing",
      timeoutMs: 60_000,
    });
    const rssBefore = gw.rssMiB();
    // The storm: SIGHUPs in threes, the first of each with a changed source (it restarts).
    for (let i = 0; i < SIGHUPS; i++) {
      if (i % 3 === 0) await write(i + 1);
      gw.child.kill("SIGHUP");
      await new Promise((r) => setTimeout(r, i % 3 === 2 ? 30 : 1));
    }
    const during = await publishing.stop();
    // After the storm: ingest still flows.
    const after = await flow(broker.port, { from: 100_000, max: 400 }).stop();
    const want = during + after;
    const sum = (from: number, n: number) => n * from + (n * (n - 1)) / 2;
    const wantSum = sum(0, during) + sum(100_000, after);
    let got: number[] = [];
    await waitFor(async () => (got = await delivered(influx.port))[0] >= want, {
      what: `${want} messages delivered`,
      timeoutMs: 60_000,
    }).catch(async (e) => {
      const s = await gw.status();
      const rows = await influxQuery(influx.port, { db: "storm", q: 'SELECT "seq" FROM "mqtt"' });
      const seen = new Set((rows[0]?.values ?? []).map((r) => Number(r[1])));
      const missing = [...Array(during).keys(), ...[...Array(after).keys()].map((i) => 100_000 + i)]
        .filter((n) => !seen.has(n));
      throw new Error(
        `${e.message}: ${got}; missing ${missing.slice(0, 40)}; source ` +
          JSON.stringify(s.sources.units),
      );
    });
    assert.deepEqual(got, [want, want, wantSum], "every message once (points, distinct, sum)");
    await waitFor(() => watch.seen.connected === expected, {
      what: `the broker back to ${expected} clients`,
    }).catch((e) => {
      throw new Error(`${e.message}: ${watch.seen.connected} connected`);
    });
    // The last reload the storm asked for may still be starting the source.
    await gw.up("mqtt.units");
    const s = await gw.status();
    assert.equal(s.reload?.ok, true);
    const rssAfter = gw.rssMiB();
    console.log(
      `connections ${connections}: ${want} messages, RSS ${rssBefore.toFixed(0)} -> ` +
        `${rssAfter.toFixed(0)} MiB, reload ${JSON.stringify(s.reload)}, source ` +
        JSON.stringify(s.sources.units.counters),
    );
    assert.ok(
      rssAfter <= rssBefore * 1.5 + 40,
      `RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB`,
    );
  } finally {
    const log = await gw.stop();
    await watch.close();
    await broker.stop();
    await influx.stop();
    if (log.trim()) console.log(log.slice(-3000));
  }
}

Deno.test("60 SIGHUPs while MQTT flows (1 connection): every message once, clients and RSS bounded", async () => {
  await storm(1);
});

Deno.test("60 SIGHUPs while MQTT flows (2 connections in Workers): every message once, clients and RSS bounded", async () => {
  await storm(2);
});

Deno.test("a source stopped while it starts does not connect afterwards (no client left behind)", async () => {
  const broker = await startMosquitto({ config: "sys_interval 1\n" });
  const watch = await watchClients(broker.port);
  await waitFor(async () => (await brokerConnections(broker.port)) === 1, { what: "the watcher" });
  const dir = await Deno.makeTempDir({ prefix: "stop-mid-start-" });
  const agent = new Agent(parseConfig(
    `gateway: {id: midstart, data_dir: ${dir}}\nhttp: {enabled: false}\n`,
    gatewaySchema,
  ));
  await agent.start();
  try {
    for (const connections of [1, 2]) {
      const config = {
        type: "mqtt",
        url: `mqtt://127.0.0.1:${broker.port}`,
        topics: ["storm/+/v"],
        connections,
        client_id: `midstart-${connections}`,
      };
      // The stop comes while the start waits for the broker's answer.
      const starting = agent.host.startSource("units", mqttSourceSchema.parse(config));
      await agent.host.stopSource("units");
      await starting;
    }
    // The starts are over: a client they opened after the stop would be connected by now.
    await waitFor(async () => (await brokerConnections(broker.port)) === 1, {
      what: "only the watcher connected",
    }).catch(async (e) => {
      throw new Error(`${e.message}: ${await brokerConnections(broker.port)} connections`);
    });
    assert.equal(agent.sources.size, 0);
  } finally {
    await agent.stop();
    await watch.close();
    await broker.stop();
  }
});
