/**
 * Every MQTT message is a point: bursts through real mosquitto into real influxd
 * keep one point per message, also across kill -9 with `ack: commit`.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { startGateway } from "../helpers/gateway.ts";
import {
  freePort,
  influxQuery,
  startInfluxd,
  startMosquitto,
  waitFor,
} from "../helpers/servers.ts";

configureLog({ level: "error" });

const TOPICS = 4;
const COUNT = 20_000;

/** Points per series (node) and distinct `seq` values per series, as influxd counts them. */
async function counts(port: number, db: string): Promise<Map<string, [number, number]>> {
  const series = await influxQuery(port, {
    db,
    q: 'SELECT count("seq"), count(distinct("seq")) FROM "mqtt" GROUP BY "node"',
  });
  return new Map(
    series.map((s) => [s.tags!.node, [Number(s.values[0][1]), Number(s.values[0][2])]]),
  );
}

function total(c: Map<string, [number, number]>, i: 0 | 1): number {
  return [...c.values()].reduce((n, v) => n + v[i], 0);
}

Deno.test("20,000 QoS 0 messages on 4 topics as fast as they can be sent: 20,000 distinct points in InfluxDB", async () => {
  const broker = await startMosquitto({ config: "max_queued_messages 0\n" });
  const influx = await startInfluxd();
  const dir = await Deno.makeTempDir({ prefix: "mqtt-influx-" });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const agent = new Agent(parseConfig(
    `gateway: {id: burst, data_dir: ${dir}}
http: {port: ${freePort()}}
sources:
  units: {type: mqtt, url: "${url}", topics: ["site/+/data"], qos: 0, client_id: burst}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: burst, create_database: true, batch_size: 5000}
`,
    gatewaySchema,
  ));
  await agent.start();
  const pub = await mqtt.connectAsync(url, { clientId: "burst-publisher" });
  try {
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < COUNT; i++) {
      sent.push(pub.publishAsync(`site/n${i % TOPICS}/data`, `{"seq":${i}}`, { qos: 0 }));
      if (i % 1000 === 999) await Promise.all(sent.splice(0)); // as fast as the socket takes them
    }
    // Two readings that carry their own time: one kept at it, one refused.
    const own = 1_790_000_000;
    sent.push(pub.publishAsync("site/clock/data", `{"ts":${own},"seq":-1}`, { qos: 0 }));
    sent.push(pub.publishAsync("site/clock/data", `{"ts":"yesterday","seq":-2}`, { qos: 0 }));
    await Promise.all(sent);
    await waitFor(async () => total(await counts(influx.port, "burst"), 0) >= COUNT + 1, {
      what: `${COUNT + 1} points in InfluxDB`,
      timeoutMs: 60_000,
    });
    const c = await counts(influx.port, "burst");
    for (let t = 0; t < TOPICS; t++) {
      assert.deepEqual(c.get(`n${t}`), [COUNT / TOPICS, COUNT / TOPICS], `series n${t}`);
    }
    assert.equal(total(c, 0), COUNT + 1);
    const timed = await influxQuery(influx.port, {
      db: "burst",
      q: `SELECT "seq" FROM "mqtt" WHERE "node" = 'clock'`,
    });
    assert.deepEqual(timed[0].values, [[own * 1000, -1]]);
    assert.equal(agent.control.status().sources.units.dropped.bad_timestamp, 1);
  } finally {
    await pub.endAsync();
    await agent.stop();
    await Promise.all([broker.stop(), influx.stop()]);
  }
});

// One connection on the main thread, and three sharing the subscription in Workers (packet ids
// are per connection: the receipts that spot redeliveries must tell them apart).
for (const connections of [1, 3]) {
  Deno.test(
    `the same burst at QoS 1 with ack: commit and 5 kill -9 restarts: every acknowledged message is one point${
      connections > 1 ? ` (${connections} connections in Workers)` : ""
    }`,
    async () => {
      // The broker keeps every QoS 1 message for the gateway's session while it is down.
      const broker = await startMosquitto({ config: "max_queued_messages 0\n" });
      const influx = await startInfluxd();
      const yaml = (port: number, dataDir: string) =>
        `gateway: {id: k9, data_dir: ${dataDir}}
log: {level: error}
http: {port: ${port}}
sources:
  units: {type: mqtt, url: "mqtt://127.0.0.1:${broker.port}", topics: ["site/+/data"], client_id: k9, ack: commit, connections: ${connections}}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: k9, create_database: true, batch_size: 5000, max_wait: 50ms}
`;
      const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
        clientId: "k9-publisher",
      });
      let gateway = await startGateway(yaml);
      const processed = async () => (await gateway.status()).sources.units.processed;
      try {
        await gateway.up("mqtt.units");
        // `acked`: the broker has the message (PUBACK to the publisher). The burst is paced
        // (200 messages, then a 10 ms pause) so that it lasts some seconds and the kills fall in it.
        const acked: number[] = [];
        let published = false;
        const publishing = (async () => {
          for (let i = 0; i < COUNT; i += 200) {
            const seqs = Array.from({ length: 200 }, (_, j) => i + j);
            await Promise.all(
              seqs.map((seq) =>
                pub.publishAsync(`site/n${seq % TOPICS}/data`, `{"seq":${seq}}`, { qos: 1 })
                  .then(() => void acked.push(seq))
              ),
            );
            await new Promise((r) => setTimeout(r, 10));
          }
          published = true;
        })();
        const took: number[] = [];
        for (let kill = 1; kill <= 5; kill++) {
          // Kill while the gateway is busy: it has taken some messages since it came up (a fast
          // one, with three connections, may have taken the whole burst by then: killed anyway).
          await waitFor(async () => published || (await processed()) >= 500, {
            what: `progress before kill ${kill}`,
            intervalMs: 10,
          });
          took.push(await processed());
          gateway.child.kill("SIGKILL");
          await gateway.stop();
          gateway = await startGateway(yaml, { dir: gateway.dir });
        }
        await publishing;
        assert.equal(acked.length, COUNT);
        console.log(`messages each killed gateway had taken: ${took.join(", ")}`);
        await waitFor(async () => total(await counts(influx.port, "k9"), 1) >= COUNT, {
          what: `${COUNT} distinct values in InfluxDB`,
          timeoutMs: 90_000,
        });
        const c = await counts(influx.port, "k9");
        // No message is a point twice: as many points as distinct values, in every series.
        for (const [node, [points, distinct]] of c) {
          assert.equal(points, distinct, `series ${node}`);
        }
        assert.equal(total(c, 1), COUNT);
      } finally {
        await pub.endAsync();
        await gateway.stop();
        await Deno.remove(gateway.dir, { recursive: true });
        await Promise.all([broker.stop(), influx.stop()]);
      }
    },
  );
}
