/**
 * Attack: one big retained message kills the sinks' own subscriptions. An anonymous client
 * leaves 150 MiB retained on `R/<portal>/keepalive`, `W/<portal>/...` and Home Assistant's
 * `homeassistant/status`; every start of the gateway got it with its subscriptions ("Fatal
 * JavaScript out of memory"). Every MQTT connection now announces a Maximum Packet Size (MQTT 5:
 * the broker drops larger messages for it) and its parser skips larger packets as they stream
 * past (MQTT 3.1.1, or a broker that ignores the bound).
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { defaultInstance } from "../../src/sinks/venus/paths.ts";
import { startGateway } from "../helpers/gateway.ts";
import { startMosquitto, waitFor } from "../helpers/servers.ts";

const BIG = 150 * 1024 * 1024;
const PORTAL = "c0619ab00004";
const TARGETS = [
  `R/${PORTAL}/keepalive`,
  `W/${PORTAL}/solarcharger/${defaultInstance("mppt1")}/Mode`,
  "homeassistant/status",
];

for (const version of [5, 4] as const) {
  Deno.test(`150 MiB retained on the sinks' own topics (MQTT ${version}): the gateway starts, twice, stays small and keeps publishing`, async () => {
    const broker = await startMosquitto({ config: "sys_interval 1\n" });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const pub = await mqtt.connectAsync(url, { clientId: "big-retainer", protocolVersion: 5 });
    try {
      const big = new Uint8Array(BIG).fill(0x7b);
      for (const topic of TARGETS) {
        await pub.publishAsync(topic, big as unknown as string, { qos: 1, retain: true });
      }
      // The broker took them (mosquitto's max_packet_size is unlimited by default).
      const retained = await sysValue(url, "$SYS/broker/retained messages/count");
      assert.ok(retained >= 3, `retained ${retained}`);

      const yaml = (port: number, data: string) =>
        `gateway: {id: big, data_dir: ${data}}
log: {level: error}
http: {port: ${port}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
sinks:
  venus: {type: venus, url: "${url}", portal_id: ${PORTAL}, protocol_version: ${version}, max_wait: 20ms}
  ha: {type: homeassistant, url: "${url}", protocol_version: ${version}, max_wait: 20ms}
  copy: {type: mqtt, url: "${url}", topic: "copy/{node}", protocol_version: ${version}, max_wait: 20ms}
`;
      let dir: string | undefined;
      for (const start of [1, 2]) {
        const gw = await startGateway(yaml, { dir });
        dir = gw.dir;
        const watcher = await mqtt.connectAsync(url, { clientId: `watcher-${start}` });
        try {
          for (const c of ["venus.venus", "homeassistant.ha", "mqtt.copy"]) await gw.up(c);
          const seen = new Set<string>();
          watcher.on("message", (t) => seen.add(t.split("/")[0]));
          await watcher.subscribeAsync([`N/${PORTAL}/#`, "edge-gateway/#", "copy/#"]);
          // A small keepalive from a real client is served (the big retained one never was).
          await watcher.publishAsync(`R/${PORTAL}/keepalive`, "");
          await waitFor(() => ["N", "edge-gateway", "copy"].every((p) => seen.has(p)), {
            what: "the three sinks publishing",
          });
          if (version === 4) {
            // Sent whole by the broker, skipped by the parser as it streams past, counted: the
            // sinks publish before the 450 MiB have passed on a loaded machine.
            await waitFor(async () => {
              const { venus, ha } = (await gw.status()).sinks;
              return (venus.dropped.over_max_size ?? 0) >= 2 &&
                (ha.dropped.over_max_size ?? 0) >= 1;
            }, { what: "the big retained messages skipped", timeoutMs: 120_000 });
          }
          const s = await gw.status();
          for (const sink of ["venus", "ha", "copy"]) {
            assert.deepEqual(
              Object.keys(s.sinks[sink].dropped).filter((r) => r !== "over_max_size"),
              [],
            );
            assert.ok(s.sinks[sink].processed > 0);
          }
          assert.equal(s.sinks.venus.counters.writes_refused ?? 0, 0, "the big W/ never taken");
          assert.equal((await gw.health()).code, 200);
          const peak = gw.peakRssMiB();
          console.log(`MQTT ${version}, start ${start}: gateway RSS max ${peak.toFixed(0)} MiB`);
          assert.ok(peak < (version === 5 ? 150 : 260), `RSS ${peak.toFixed(0)} MiB`);
        } finally {
          await watcher.endAsync();
          const log = await gw.stop();
          assert.doesNotMatch(log, /out of memory/i);
        }
      }
    } finally {
      await pub.endAsync();
      await broker.stop();
    }
  });
}

/** A number the broker publishes under $SYS. */
async function sysValue(url: string, topic: string): Promise<number> {
  const c = await mqtt.connectAsync(url);
  try {
    const value = new Promise<number>((resolve) =>
      c.on("message", (_t, p) => resolve(Number(p.toString())))
    );
    await c.subscribeAsync(topic);
    return await value;
  } finally {
    await c.endAsync();
  }
}
