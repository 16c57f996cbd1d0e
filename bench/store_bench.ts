/** Sustained samples/s into each store, and window aggregation of 1000 nodes x 1 min. */
import { Redis } from "ioredis";
import { configureLog } from "../src/log.ts";
import type { Sample } from "../src/model.ts";
import type { Store } from "../src/store/store.ts";
import { embeddedFactory, LEVELS, redisFactory } from "../tests/helpers/stores.ts";
import { startRedis } from "../tests/helpers/servers.ts";
import { DatabaseSync } from "node:sqlite";
import { readLuaScript } from "../src/store/lua.ts";
import { record } from "./summary.ts";
import { report, seconds } from "./util.ts";

const T0 = Date.UTC(2026, 0, 1);

/** A BMV-like record of 10 fields. */
function sample(node: number, sec: number): Sample {
  return {
    source: "bench",
    node: `node${node}`,
    ts: T0 + sec * 1000,
    fields: {
      V: 12.8 + (sec % 10) / 100,
      VS: 12.7,
      I: -3.2,
      P: -41,
      CE: -12.345,
      SOC: 87.6,
      TTG: 1234,
      AR: 0,
      Alarm: false,
      Relay: false,
    },
  };
}

async function ingest(store: Store, nodes: number, secondsOfData: number, batch: number) {
  let pending: Sample[] = [];
  let n = 0;
  for (let s = 0; s < secondsOfData; s++) {
    for (let node = 0; node < nodes; node++) {
      pending.push(sample(node, s));
      if (pending.length === batch) {
        await store.write(pending);
        await store.flush();
        n += pending.length;
        pending = [];
      }
    }
  }
  await store.write(pending);
  await store.flush();
  return n + pending.length;
}

async function evalshaUsec(port: number): Promise<number> {
  const r = new Redis({ port, lazyConnect: true });
  await r.connect();
  const info = await r.info("commandstats");
  r.disconnect();
  return Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(info)?.[1] ?? 0);
}

/** node:sqlite alone: the same rows (node, second, JSON of the fields), 10000 per transaction. */
async function rawSqlite(nodes: number, secs: number): Promise<number> {
  const dir = await Deno.makeTempDir();
  const db = new DatabaseSync(`${dir}/raw.db`);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
  db.exec("CREATE TABLE samples (node TEXT, ts INTEGER, fields TEXT, PRIMARY KEY (node, ts))");
  const insert = db.prepare("INSERT OR REPLACE INTO samples VALUES (?, ?, ?)");
  let n = 0;
  const t = await seconds(() => {
    db.exec("BEGIN");
    for (let s = 0; s < secs; s++) {
      for (let node = 0; node < nodes; node++) {
        const x = sample(node, s);
        insert.run(x.node, s, JSON.stringify(x.fields));
        if (++n % 10_000 === 0) db.exec("COMMIT; BEGIN");
      }
    }
    db.exec("COMMIT");
  });
  db.close();
  await Deno.remove(dir, { recursive: true });
  return n / t;
}

/** redis-benchmark's pipelined HSET rate (-P 64) on the same server. */
async function redisBenchmark(port: number): Promise<number> {
  const out = await new Deno.Command("redis-benchmark", {
    args: ["-p", String(port), "-P", "64", "-n", "1000000", "-t", "hset", "-q"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  return Number(/HSET: ([\d.]+) requests per second/.exec(text)?.[1] ?? 0);
}

/**
 * The write script's own ceiling: samples/s through EVALSHA with the arguments built beforehand
 * (no JavaScript in the timing but ioredis's pipelining), for the whole script and for one that
 * returns at once (what taking 10 samples' arguments costs).
 */
async function writeScriptAlone(port: number): Promise<{ full: number; empty: number }> {
  const r = new Redis({ port, lazyConnect: true });
  await r.connect();
  const json = JSON.stringify(sample(0, 0).fields);
  const rate = async (source: string) => {
    await r.flushall();
    const sha = await r.script("LOAD", source) as string;
    let samples = 0;
    const t = await seconds(async () => {
      for (let s = 0; s < 200; s += 10) {
        const pipe = r.pipeline();
        for (let node = 0; node < 1000; node++) {
          const member = `alone_node${node}`;
          const args = ["3600", member];
          for (let k = 0; k < 10; k++) args.push(String(T0 / 1000 + s + k), json);
          pipe.evalsha(sha, 3, member, `${member}:idx`, "alone_nodes", ...args);
          samples += 10;
        }
        await pipe.exec();
      }
    });
    return samples / t;
  };
  const full = await rate(await readLuaScript("write"));
  const empty = await rate("return 0");
  r.disconnect();
  return { full, empty };
}

/** Runs the store benchmarks. */
export async function benchStore(): Promise<void> {
  configureLog({ level: "error" });
  const nodes = 1000;
  const secs = 200;
  const redis = await startRedis();
  try {
    const stores: [string, () => Promise<Store>][] = [
      ["embedded", async () => (await embeddedFactory())()],
      ["redis", () => redisFactory(redis.port, "bench")({})],
    ];
    for (const [name, make] of stores) {
      const store = await make();
      let count = 0;
      const before0 = name === "redis" ? await evalshaUsec(redis.port) : 0;
      const t = await seconds(async () => count = await ingest(store, nodes, secs, 10_000));
      const redisS = name === "redis" ? ((await evalshaUsec(redis.port)) - before0) / 1e6 : NaN;
      record(`${name}_samples_s`, count / t);
      report(
        `store ${name}: samples/s`,
        `${Math.round(count / t)}`,
        `${count} samples of 10 fields, batches of 10000, ${nodes} nodes` +
          (name === "redis" ? `, ${(redisS / t * 100).toFixed(0)}% of the time in Redis` : ""),
      );
      // Aggregate minute 1 (1000 nodes x 60 samples), as the scheduler does.
      await store.aggregate(LEVELS[0], T0 + 60_000 + 11_000); // first run: minute 0
      const before = name === "redis" ? await evalshaUsec(redis.port) : 0;
      let windows = 0;
      const ta = await seconds(async () =>
        windows = (await store.aggregate(LEVELS[0], T0 + 120_000 + 11_000)).windows
      );
      const redisMs = name === "redis" ? ((await evalshaUsec(redis.port)) - before) / 1000 : NaN;
      report(
        `store ${name}: aggregate 1000 nodes x 1 min`,
        `${(ta * 1000).toFixed(0)} ms`,
        name === "redis"
          ? `${redisMs.toFixed(0)} ms of Redis time, ${windows} windows`
          : `${windows} windows`,
      );
      await store.close();
    }
    const raw = await rawSqlite(nodes, secs);
    record("sqlite_rows_s", raw);
    report("node:sqlite alone: rows/s", `${Math.round(raw)}`, "the same samples as JSON rows");
    const hset = await redisBenchmark(redis.port);
    record("redis_benchmark_ops_s", hset);
    report("redis-benchmark -P 64: HSET/s", `${Math.round(hset)}`, "1000000 requests, one client");
    const alone = await writeScriptAlone(redis.port);
    report(
      "redis write script alone: samples/s",
      `${Math.round(alone.full)}`,
      `${(100 * alone.full / hset).toFixed(0)}% of HSET/s; a script returning at once ${
        Math.round(alone.empty)
      } (${(100 * alone.empty / hset).toFixed(0)}%): arguments prebuilt, 10 samples a call`,
    );
  } finally {
    await redis.stop();
  }
}

if (import.meta.main) await benchStore();
