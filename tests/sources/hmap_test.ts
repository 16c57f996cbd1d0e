/**
 * The HmapTimeSeries reader on a real redis-server: hashes our Redis store wrote
 * and hashes written by hand in vemonitor_m8's layout are forwarded once each
 * second, with their own time, also across a restart and while being trimmed.
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import type { Sample } from "../../src/model.ts";
import { hashSamples } from "../../src/sources/hmap/mod.ts";
import { startRedis, waitFor } from "../helpers/servers.ts";
import { redisFactory } from "../helpers/stores.ts";

configureLog({ level: "error" });

const T0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

Deno.test("hash fields become samples at their second; other fields and bad values are not", () => {
  const { samples, bad } = hashSamples("bmv1", [
    ["1795000000", '{"V": 12.5, "LOAD": 1, "CS_text": "Bulk", "nested": {"x": 1}}'],
    ["1795000001", "not json"],
    ["1795000002", null], // trimmed meanwhile
    ["1795000003", "[1, 2]"],
  ], { source: "vem" });
  assert.equal(bad, 2);
  assert.deepEqual(samples, [{
    source: "vem",
    node: "bmv1",
    ts: 1_795_000_000_000,
    fields: { V: 12.5, LOAD: 1, CS_text: "Bulk" },
  }]);
});

Deno.test("HmapTimeSeries from our store and from vemonitor_m8 are forwarded once each, across a restart", async () => {
  const redis = await startRedis();
  const r = new Redis({ port: redis.port, db: 3, lazyConnect: true });
  await r.connect();
  const dir = await Deno.makeTempDir();
  const config = parseConfig(
    `gateway: {id: hub, data_dir: ${dir}}
http: {enabled: false}
store: {type: embedded, max_rows: 5000}
sources:
  ours: {type: hmap, port: ${redis.port}, node_set: gw, interval: 50ms}
  vem: {type: hmap, port: ${redis.port}, node_set: vem, interval: 50ms, batch: 7}
sinks: {}
`,
    gatewaySchema,
  );
  // Our Redis store keeps 32 seconds per node: older ones are trimmed as new ones come.
  const store = await redisFactory(redis.port, "gw")({ maxRows: 32 });
  const ours = (from: number, n: number): Sample[] =>
    Array.from({ length: n }, (_, i) => ({
      source: "x",
      node: "mppt1",
      ts: T0 + (from + i) * 1000,
      fields: { V: 13 + (from + i) / 100, LOAD: true },
    }));
  const vemonitor = async (from: number, n: number) => {
    for (let i = from; i < from + n; i++) {
      await r.hset("vem_bmv1", String(T0 / 1000 + i), JSON.stringify({ V: 12 + i / 100, SOC: 80 }));
    }
    await r.sadd("vem", "vem_bmv1");
  };
  await store.write(ours(0, 30));
  await store.flush();
  await vemonitor(0, 20);
  await r.hset("vem_bmv1", "meta", "written by another tool");
  await r.hset("vem_bmv1", String(T0 / 1000 + 20), "not json");
  let agent = new Agent(config);
  const processed = (name: string) => agent.sources.get(name)!.status.processed;
  try {
    await agent.start();
    await waitFor(() => processed("ours") === 30 && processed("vem") === 20, {
      what: "30 + 20 seconds forwarded",
    });
    assert.deepEqual(agent.sources.get("vem")!.status.dropped, { bad_value: 1 });
    const points = await agent.control.query({ node: "mppt1", from: T0, to: T0 + 60_000 }) as {
      ts: number;
      fields: Record<string, unknown>;
    }[];
    assert.equal(points.length, 30);
    assert.deepEqual(points[3], { ts: T0 + 3000, fields: { V: 13.03, LOAD: 1 } });
    await agent.control.sync();
    await agent.stop();

    // Meanwhile more seconds arrive and the oldest are trimmed; after a restart only the new go.
    await store.write(ours(30, 5));
    await store.flush();
    await vemonitor(21, 5);
    assert.equal(await r.hlen("gw_mppt1"), 32, "trimmed to max_rows");
    agent = new Agent(config);
    await agent.start();
    await waitFor(() => processed("ours") === 5 && processed("vem") === 5, {
      what: "only the 5 new seconds of each",
    });
    await new Promise((res) => setTimeout(res, 300)); // a few more cycles: nothing again
    assert.equal(processed("ours"), 5);
    assert.equal(processed("vem"), 5);
  } finally {
    await agent.stop();
    await store.close();
    r.disconnect();
    await redis.stop();
  }
});
