/**
 * Attack 5: very wide samples on the Redis store. 3,000 messages of 3,000
 * numeric fields used to exhaust memory (the buffer for Redis counted samples,
 * not bytes) and the persistent session redelivered them after each crash.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { startGateway } from "../helpers/gateway.ts";
import { freePort, startMosquitto, startRedis, waitFor } from "../helpers/servers.ts";

function wide(fields: number, seq: number): string {
  const o: Record<string, number> = {};
  for (let i = 0; i < fields; i++) o[`f${i}`] = seq + i / 1000;
  return JSON.stringify(o);
}

Deno.test("3,000 messages of 3,000 fields, and wide ones while Redis is down: refused or bounded, counted, the gateway keeps serving", async () => {
  const broker = await startMosquitto({ config: "max_queued_messages 0\n" });
  const redisPort = freePort();
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const gw = await startGateway((port, data) =>
    `gateway: {id: wide, data_dir: ${data}}
log: {level: error}
http: {port: ${port}}
store: {type: redis, redis: {port: ${redisPort}, max_pending_bytes: 8MiB}}
sources:
  units: {type: mqtt, url: "${url}", topics: ["wide/+"], client_id: wide}
`
  );
  const pub = await mqtt.connectAsync(url);
  try {
    await gw.up("mqtt.units");
    // Wider than any sample may be: refused at once.
    for (let i = 0; i < 3000; i += 100) {
      await Promise.all(
        Array.from(
          { length: 100 },
          (_, j) => pub.publishAsync("wide/a", wide(3000, i + j), { qos: 1 }),
        ),
      );
    }
    // 200 fields each (allowed) while Redis is down: the buffer for it holds 8 MiB at most.
    for (let i = 0; i < 3000; i += 100) {
      await Promise.all(
        Array.from(
          { length: 100 },
          (_, j) => pub.publishAsync("wide/b", wide(200, i + j), { qos: 1 }),
        ),
      );
    }
    let taken = 0;
    await waitFor(
      async () => (taken = (await gw.status()).sources.units.counters.messages) === 6000,
      {
        what: "every message taken",
        timeoutMs: 180_000, // a liveness bound: it ran past 60 s once beside the suite's heavy files
      },
    ).catch((e) => {
      throw new Error(`${e.message}: ${taken} of 6000`);
    });
    const s = await gw.status();
    assert.equal(s.sources.units.dropped.too_many_fields, 3000);
    assert.ok((s.store.dropped.redis_unavailable_buffer_full ?? 0) > 0, JSON.stringify(s.store));
    assert.ok((s.store.pending_bytes as number) <= 8 * 1024 * 1024);
    console.log(`RSS max ${gw.peakRssMiB().toFixed(0)} MiB`);
    assert.ok(gw.peakRssMiB() < 250, `RSS ${gw.peakRssMiB().toFixed(0)} MiB`);
    // Redis comes up: what the buffer kept is written, and new samples go straight through.
    const redis = await startRedis({ port: redisPort });
    try {
      await pub.publishAsync("wide/c", wide(10, 1), { qos: 1 });
      await waitFor(async () => {
        const q = await (await fetch(`${gw.url}/query?node=c&from=-1h`)).json();
        return q.points.length === 1;
      }, { what: "a sample written to Redis after it came back" });
      assert.equal((await gw.health()).code, 200);
    } finally {
      await redis.stop();
    }
  } finally {
    await pub.endAsync();
    await gw.stop();
    await broker.stop();
  }
});
