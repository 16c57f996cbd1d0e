import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import type { Sample } from "../../src/model.ts";
import { readLuaScript } from "../../src/store/lua.ts";
import { redisFactory } from "../helpers/stores.ts";
import { freePort, startRedis, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

/**
 * What vemonitor_m8's HmapTimeSeriesApp does for one sample, step by step with
 * plain commands (HGET + merge, HSET, SADD, HKEYS + trim), as its code does.
 */
async function vemonitorWrite(
  r: Redis,
  options: { redisNode: string; node: string; time: number; data: Record<string, unknown> },
  maxRows: number,
) {
  const hash = `${options.redisNode}_${options.node}`;
  const old = await r.hget(hash, String(options.time));
  const data = old ? { ...JSON.parse(old), ...options.data } : options.data;
  await r.hset(hash, String(options.time), JSON.stringify(data));
  await r.sadd(options.redisNode, hash);
  const keys = (await r.hkeys(hash)).sort();
  if (keys.length > maxRows) await r.hdel(hash, ...keys.slice(0, keys.length - maxRows));
}

Deno.test("Redis content matches what vemonitor_m8 writes for the same input", async () => {
  const redis = await startRedis();
  const r = new Redis({ port: redis.port, db: 3, lazyConnect: true });
  await r.connect();
  try {
    const samples: Sample[] = [];
    for (let i = 0; i < 30; i++) {
      const node = i % 2 ? "mppt1" : "bmv1";
      samples.push({
        source: "t",
        node,
        ts: T0 + i * 1000,
        fields: { V: 12.064 + i, SOC: 87.5, LOAD: i % 3 === 0, Relay: false },
      });
    }
    samples.push({ source: "t", node: "mppt1", ts: T0 + 29_500, fields: { PPV: 120, V: 13 } });
    for (const s of samples) {
      await vemonitorWrite(r, {
        redisNode: "vem",
        node: s.node,
        time: Math.floor(s.ts / 1000),
        // vemonitor keeps ON/OFF labels (LOAD, Alarm, Relay) as 1/0.
        data: Object.fromEntries(
          Object.entries(s.fields).map(([k, v]) => [k, typeof v === "boolean" ? +v : v]),
        ),
      }, 10);
    }
    const store = await redisFactory(redis.port, "ours")({ maxRows: 10 });
    for (let i = 0; i < samples.length; i += 7) {
      await store.write(samples.slice(i, i + 7));
      await store.flush();
    }
    await store.close();

    const vemMembers = (await r.smembers("vem")).map((m) => m.slice(4)).sort();
    const ourMembers = (await r.smembers("ours")).map((m) => m.slice(5)).sort();
    assert.deepEqual(ourMembers, vemMembers);
    assert.deepEqual(ourMembers, ["bmv1", "mppt1"]);
    for (const node of ourMembers) {
      const theirs = await r.hgetall(`vem_${node}`);
      const ours = await r.hgetall(`ours_${node}`);
      assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
      for (const k of Object.keys(theirs)) {
        assert.deepEqual(JSON.parse(ours[k]), JSON.parse(theirs[k]));
      }
      assert.equal(Object.keys(ours).length, 10);
    }
    // Read back with a plain command, as existing tools do.
    const second = String(Math.floor(T0 / 1000) + 29);
    assert.deepEqual(JSON.parse((await r.hget("ours_mppt1", second))!), {
      V: 13,
      SOC: 87.5,
      LOAD: 0,
      Relay: 0,
      PPV: 120,
    });
  } finally {
    r.disconnect();
    await redis.stop();
  }
});

Deno.test("the aggregation script can be triggered from outside with redis-cli EVALSHA", async () => {
  const redis = await startRedis();
  try {
    const store = await redisFactory(redis.port, "cron")();
    await store.write(
      Array.from(
        { length: 60 },
        (_, i) => ({ source: "t", node: "n", ts: T0 + i * 1000, fields: { V: i } }),
      ),
    );
    await store.close();
    const cli = async (...args: string[]) => {
      const out = await new Deno.Command("redis-cli", {
        args: ["-p", String(redis.port), "-n", "3", ...args],
        stdout: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout).trim();
    };
    const sha = await cli("SCRIPT", "LOAD", await readLuaScript("aggregate"));
    const now = String(Math.floor(T0 / 1000) + 75);
    // node_set hash_prefix key_prefix level window_s from from_window_s now grace ttl max_windows
    const aggregate = (set: string, prefix: string) =>
      cli("EVALSHA", sha, "0", set, set, prefix, "1m", "60", "", "0", now, "10", "7200", "100");
    // EVALSHA <sha> 0 <node_set> <hash_prefix> <key_prefix> <level> <win> <from> <from win> <now> <grace> <ttl> <max>
    await aggregate("cron", "cron:");
    const avg = await cli("HGET", `cron:archive:1m:${Math.floor(T0 / 1000)}:n`, "V_avg");
    assert.equal(avg, "29.5");
    const ttl = Number(await cli("TTL", `cron:archive:1m:${Math.floor(T0 / 1000)}:n`));
    assert.ok(ttl > 7000 && ttl <= 7200);
    assert.equal(await cli("LLEN", "cron:archive:pending"), "1");

    // A hash written by another tool (no running statistics) is aggregated from raw samples.
    const sec = String(Math.floor(T0 / 1000) + 5);
    await cli("HSET", "other_n", sec, '{"V":4,"T":"x"}');
    await cli("SADD", "other", "other_n");
    await aggregate("other", "o:");
    assert.equal(await cli("HGET", `o:archive:1m:${Math.floor(T0 / 1000)}:n`, "V_sum"), "4");
  } finally {
    await redis.stop();
  }
});

Deno.test("a flushed script cache (NOSCRIPT) is reloaded transparently", async () => {
  const redis = await startRedis();
  const r = new Redis({ port: redis.port, db: 3, lazyConnect: true });
  await r.connect();
  try {
    const store = await redisFactory(redis.port, "ns")();
    await store.write([{ source: "t", node: "n", ts: T0, fields: { V: 1 } }]);
    await store.flush();
    await r.script("FLUSH");
    await store.write([{ source: "t", node: "n", ts: T0 + 1000, fields: { V: 2 } }]);
    await store.flush();
    await store.flush(); // a NOSCRIPT failure is retried on the next flush
    const levels = (await import("../helpers/stores.ts")).LEVELS;
    await r.script("FLUSH");
    await store.aggregate(levels[0], T0 + 75_000);
    assert.equal(await r.hlen("ns_n"), 2);
    await store.close();
  } finally {
    r.disconnect();
    await redis.stop();
  }
});

Deno.test("Redis down at start and mid-run: samples wait, /health says degraded, nothing is lost", async () => {
  const port = freePort();
  const httpPort = freePort();
  const dataDir = await Deno.makeTempDir();
  const config = parseConfig(
    `gateway: {id: t, data_dir: ${dataDir}}
http: {port: ${httpPort}}
store:
  type: redis
  redis: {port: ${port}, node_set: gw, time_interval: 200ms}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
`,
    gatewaySchema,
  );
  const agent = new Agent(config);
  await agent.start();
  let redis = null;
  const r = new Redis({ port, db: 3, lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on("error", () => {}); // this test kills the server on purpose
  try {
    await waitFor(() => agent.sources.get("mppt1")!.status.processed >= 5, { what: "samples" });
    const health = await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json();
    assert.equal(health.status, "degraded");
    assert.equal(health.components.store, "degraded");
    assert.ok((agent.store.status.info.pending as number) >= 5);

    redis = await startRedis({ port });
    await r.connect();
    await waitFor(
      () => agent.store.status.state === "up" && agent.store.status.info.pending === 0,
      {
        what: "buffer written after Redis came up",
      },
    );
    const firstCount = await r.hlen("gw_mppt1");
    assert.ok(firstCount >= 1);

    // Mid-run outage: samples emitted meanwhile are written once Redis is back.
    await redis.kill();
    await waitFor(() => agent.store.status.state === "degraded", { what: "store degraded" });
    const emittedDuringOutage = agent.sources.get("mppt1")!.status.processed;
    await waitFor(() => agent.sources.get("mppt1")!.status.processed >= emittedDuringOutage + 5, {
      what: "samples during outage",
    });
    const health2 = await fetch(`http://127.0.0.1:${httpPort}/health`);
    assert.equal(health2.status, 200);
    await health2.body?.cancel();
    const lastBefore = Math.floor(Date.now() / 1000);
    redis = await startRedis({ port }); // no persistence: only what was buffered comes back
    await waitFor(async () => {
      const fields = (await r.hkeys("gw_mppt1").catch(() => [])).map(Number);
      return fields.some((s) => s >= lastBefore - 1);
    }, { what: "outage samples in Redis" });
    assert.equal(agent.store.status.dropped.redis_unavailable_buffer_full ?? 0, 0);
  } finally {
    r.disconnect();
    await agent.stop();
    await redis?.stop();
  }
});

Deno.test("a password-protected Redis is used with store.redis.password", async () => {
  const redis = await startRedis({ password: "s3cret-pw" });
  try {
    const store = await redisFactory(redis.port, "pw", { password: "s3cret-pw" })();
    assert.equal(store.status.state, "up");
    await store.write([{ source: "t", node: "n", ts: T0, fields: { V: 1 } }]);
    await store.flush();
    assert.deepEqual(await store.nodes(), ["n"]);
    await store.close();
    const denied = await redisFactory(redis.port, "pw")();
    assert.equal(denied.status.state, "degraded");
    assert.match(denied.status.lastError?.message ?? "", /NOAUTH|auth/i);
    await denied.close();
  } finally {
    await redis.stop();
  }
});
