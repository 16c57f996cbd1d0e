/**
 * Attack 9: huge MQTT messages. mqtt.js holds a whole message in memory before
 * the source can look at its size; with MQTT 5 the gateway announces a Maximum
 * Packet Size from `max_size`, so the broker never sends a larger one.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { startGateway } from "../helpers/gateway.ts";
import { startMosquitto, waitFor } from "../helpers/servers.ts";

const BIG = 20 * 1024 * 1024;

for (const [version, worker] of [[5, false], [4, false], [4, true]] as const) {
  const where = worker ? ", connection in a Worker" : "";
  Deno.test(`20 MiB messages against max_size 256KiB (MQTT ${version}${where}): refused and counted, small ones stored`, async () => {
    const broker = await startMosquitto({ config: "sys_interval 1\n" });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const gw = await startGateway((port, data) =>
      `gateway: {id: big, data_dir: ${data}}
log: {level: error}
http: {port: ${port}}
sources:
  units: {type: mqtt, url: "${url}", topics: ["big/+"], client_id: big, protocol_version: ${version}, worker: ${worker}}
`
    );
    const pub = await mqtt.connectAsync(url);
    try {
      await gw.up("mqtt.units");
      const big = new Uint8Array(BIG).fill(0x31);
      for (let i = 0; i < 5; i++) {
        await pub.publishAsync("big/a", big as unknown as string, { qos: 1 });
        await pub.publishAsync("big/b", String(i), { qos: 1 });
      }
      await waitFor(async () => (await gw.status()).sources.units.processed === 5, {
        what: "the 5 small messages stored",
      });
      const s = await gw.status();
      if (version === 5) {
        // Never sent to the gateway (mosquitto drops them for this client without a count).
        assert.equal(s.sources.units.counters.messages, 5);
        assert.ok(s.sources.units.counters.bytes < 100);
        assert.equal(s.sources.units.dropped.over_max_size ?? 0, 0);
      } else {
        // MQTT 3.1.1 has no way to refuse: the parser's guard skips them as they stream past
        // (never held whole), acknowledges them and counts them.
        assert.equal(s.sources.units.counters.messages, 5);
        assert.equal(s.sources.units.dropped.over_max_size, 5);
      }
      console.log(
        `MQTT ${version}: gateway RSS max ${gw.peakRssMiB().toFixed(0)} MiB with 5 x 20 MiB`,
      );
      const bound = version === 5 ? 150 : 200;
      assert.ok(gw.peakRssMiB() < bound, `RSS ${gw.peakRssMiB().toFixed(0)} MiB`);
      assert.equal((await gw.health()).code, 200);
    } finally {
      await pub.endAsync();
      await gw.stop();
      await broker.stop();
    }
  });
}
