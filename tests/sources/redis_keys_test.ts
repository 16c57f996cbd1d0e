import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { configureLog } from "../../src/log.ts";
import { redisKeysSchema, RedisKeysSource } from "../../src/sources/redis_keys/mod.ts";
import { collectingContext } from "../helpers/context.ts";
import { startRedis, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

Deno.test("hissrv-style hashes become samples: SCAN, mappings with capture groups, filters, unchanged skipped", async () => {
  const redis = await startRedis();
  const r = new Redis({ port: redis.port, lazyConnect: true });
  await r.connect();
  try {
    await r.hset("comsrv:1001:m", {
      "101": "230.5",
      "102": '{"value":1.5,"quality":"good"}',
      "103": '{"value":9,"quality":"bad"}',
    });
    await r.hset("comsrv:1002:m", { "101": "229.9", "104": "on" });
    await r.set("comsrv:9:m", "not a hash");
    await r.hset("other:1:m", { "1": "5" });
    const ctx = collectingContext("scada");
    const source = new RedisKeysSource(
      redisKeysSchema.parse({
        type: "redis_keys",
        port: redis.port,
        patterns: ["comsrv:*:m"],
        interval: "100ms",
        count: 2,
        mappings: [{
          match: "^comsrv:(\\d+):m$",
          node: "channel_$1",
          tags: { channel: "$1" },
          fields: { "101": "voltage", "*": "direct" },
        }],
        filters: [{ field: "quality", op: "eq", value: "good" }],
      }),
      ctx,
    );
    await source.start();
    try {
      await waitFor(() => ctx.samples.length >= 2, { what: "samples" });
      const byNode = Object.fromEntries(ctx.samples.map((s) => [s.node, s]));
      assert.deepEqual(byNode.channel_1001.fields, { voltage: 230.5, "102": 1.5 });
      assert.deepEqual(byNode.channel_1001.tags, { channel: "1001" });
      assert.deepEqual(byNode.channel_1002.fields, { voltage: 229.9, "104": "on" });
      assert.equal(byNode["other:1:m"], undefined, "pattern respected");
      await waitFor(() => (ctx.status.counters.unchanged ?? 0) >= 2, {
        what: "unchanged hashes skipped",
      });
      assert.equal(ctx.samples.length, 2);
      assert.ok((ctx.status.counters.wrong_type ?? 0) >= 1);
      await r.hset("comsrv:1002:m", "101", "231.0");
      await waitFor(() => ctx.samples.length === 3, { what: "changed hash emitted" });
      assert.equal(ctx.samples[2].node, "channel_1002");
      assert.equal(ctx.samples[2].fields.voltage, 231);
    } finally {
      await source.stop();
    }
  } finally {
    r.disconnect();
    await redis.stop();
  }
});

Deno.test("a value the pipeline refused is sent again on the next scan; deleted keys are forgotten", async () => {
  const redis = await startRedis();
  const r = new Redis({ port: redis.port, lazyConnect: true });
  await r.connect();
  try {
    await r.hset("comsrv:1:m", { "101": "1" });
    const ctx = collectingContext("scada");
    let refusals = 1;
    const emit = ctx.emit;
    ctx.emit = (samples) =>
      refusals-- > 0 ? Promise.reject(new Error("outbox full")) : emit(samples);
    const source = new RedisKeysSource(
      redisKeysSchema.parse({
        type: "redis_keys",
        port: redis.port,
        patterns: ["comsrv:*"],
        interval: "50ms",
      }),
      ctx,
    );
    await source.start();
    try {
      await waitFor(() => ctx.samples.length === 1, { what: "the refused value, sent again" });
      assert.equal(ctx.status.failed, 1);
      // Deleted, then written again with the same content: it is news again.
      await r.del("comsrv:1:m");
      const scans = ctx.status.counters.scans ?? 0;
      await waitFor(() => (ctx.status.counters.scans ?? 0) >= scans + 2, { what: "two scans" });
      await r.hset("comsrv:1:m", { "101": "1" });
      await waitFor(() => ctx.samples.length === 2, { what: "the key written again" });
    } finally {
      await source.stop();
    }
  } finally {
    r.disconnect();
    await redis.stop();
  }
});
