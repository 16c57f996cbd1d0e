import type { Redis } from "ioredis";
import { type Sample, sampleBytes, type Window } from "../model.ts";
import { ComponentStatus, errorMessage } from "../status.ts";
import { readLuaScript } from "./lua.ts";
import { tlsOptions, type TlsSettings } from "../tls.ts";
import {
  type Level,
  QUERY_LIMIT,
  type SeriesPoint,
  type SeriesQuery,
  type Store,
  type StoreOptions,
} from "./store.ts";
import { findLevel, groupBySecond } from "./windows.ts";
import { statsFromHash, WindowHints } from "./window_hints.ts";
import { writeGrouped } from "./redis_pipelines.ts";

/** Connection and layout settings of the Redis store. */
export interface RedisStoreOptions extends StoreOptions {
  host: string;
  port: number;
  db: number;
  password?: string;
  username?: string;
  /** TLS to Redis (with its CA, client certificate, `insecure`), or none. */
  tls: TlsSettings | null;
  /** vemonitor_m8's `redis_node`: the set listing the node hashes. */
  nodeSet: string;
  /** Hash names are `<hashPrefix>_<node>`. */
  hashPrefix: string;
  /** Prefix of archive keys (`<prefix>archive:1m:<start>:<node>`). */
  keyPrefix: string;
  /** Samples kept in memory while Redis is unreachable; the oldest are dropped beyond it. */
  maxPending: number;
  /** The same bound in bytes (about). */
  maxPendingBytes: number;
  /** Leader election among gateways sharing this Redis, or none (aggregate always). */
  leader?: { key: string; id: string; ttlMs: number } | null;
}

// Takes the lock when free, renews it when ours; 1 when this gateway leads.
const LEAD = `local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`;
// Trims forwarded windows only while the lock is ours: a stale leader cannot drop the others'.
const ACK = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], ARGV[2], -1) return 1`;
const RELEASE =
  `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1`;

interface Script {
  source: string;
  sha: string;
}

/**
 * HmapTimeSeries in Redis (vemonitor_m8's layout) with Lua window aggregation.
 * Writes are buffered and pipelined; while Redis is down they wait, bounded, in memory.
 */
export class RedisStore implements Store {
  readonly status = new ComponentStatus("store", "redis", true);
  #redis!: Redis;
  /** Whether this gateway held the leader lock at its last aggregation pass. */
  #leading = false;
  #scripts: Record<"write" | "aggregate", Script> = {
    write: { source: "", sha: "" },
    aggregate: { source: "", sha: "" },
  };
  #pending: Sample[] = [];
  #pendingBytes = 0;
  #hints: WindowHints;
  #flushing: Promise<void> | null = null;

  constructor(readonly options: RedisStoreOptions) {
    this.#hints = new WindowHints(options.levels.filter((l) => !l.from));
  }

  async open(): Promise<void> {
    for (const name of ["write", "aggregate"] as const) {
      this.#scripts[name].source = await readLuaScript(name);
    }
    const o = this.options;
    // Loaded only for the Redis store: ~18 MB of memory the embedded store does not carry.
    const { Redis } = await import("ioredis");
    this.#redis = new Redis({
      host: o.host,
      port: o.port,
      db: o.db,
      password: o.password || undefined,
      username: o.username || undefined,
      tls: o.tls ? tlsOptions(o.tls) : undefined,
      lazyConnect: true,
      // Commands fail fast while disconnected: the buffer here is bounded, ioredis' is not.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(times * 200, 5000),
    });
    this.#redis.on("error", (e: Error) => {
      this.status.lastError = { at: Date.now(), message: e.message };
    });
    this.#redis.on("ready", () => {
      this.status.state = "up";
      for (const s of Object.values(this.#scripts)) s.sha = "";
      // A Redis that came back empty (restarted without persistence) learns them again.
      void this.#configure().catch(() => {});
    });
    this.#redis.on("end", () => this.status.state = "degraded");
    this.#redis.on("close", () => {
      if (this.status.state === "up") this.status.state = "degraded";
    });
    this.status.info.redis = `${o.host}:${o.port}/${o.db}`;
    try {
      await this.#redis.connect();
      await this.#configure();
      this.status.state = "up";
    } catch (e) {
      // Redis down at start: keep going, samples wait in memory until it is back.
      // The error event (NOAUTH, ECONNREFUSED) says more than "Connection is closed".
      const cause = this.status.lastError?.message ?? errorMessage(e);
      this.status.state = "degraded";
      this.status.fail(`Redis at ${o.host}:${o.port} db ${o.db} not usable: ${cause}`);
    }
  }

  /**
   * The percentiles go to `aggregate.lua` through Redis itself (`<prefix>archive:config`), so
   * the script's argument list stays as external triggers (cron) call it.
   */
  async #configure(): Promise<void> {
    const key = `${this.options.keyPrefix}archive:config`;
    const p = this.options.percentiles ?? [];
    if (p.length > 0) await this.#redis.hset(key, "percentiles", p.join(","));
    else await this.#redis.hdel(key, "percentiles");
  }

  async #eval(name: "write" | "aggregate", keys: string[], args: (string | number)[]) {
    const script = this.#scripts[name];
    if (!script.sha) {
      script.sha = await this.#redis.script("LOAD", script.source) as string;
    }
    try {
      return await this.#redis.evalsha(script.sha, keys.length, keys.concat(args.map(String)));
    } catch (e) {
      if (!errorMessage(e).includes("NOSCRIPT")) throw e;
      script.sha = await this.#redis.script("LOAD", script.source) as string;
      return await this.#redis.evalsha(script.sha, keys.length, keys.concat(args.map(String)));
    }
  }

  write(samples: Sample[]): Promise<void> {
    for (const s of samples) {
      this.#pending.push(s);
      this.#pendingBytes += sampleBytes(s);
    }
    // Bounded in samples and in bytes (a sample can hold hundreds of fields): oldest go first.
    let over = 0;
    while (
      over < this.#pending.length &&
      (this.#pending.length - over > this.options.maxPending ||
        this.#pendingBytes > this.options.maxPendingBytes)
    ) {
      this.#pendingBytes -= sampleBytes(this.#pending[over]);
      over++;
    }
    if (over > 0) {
      this.#pending.splice(0, over);
      this.status.drop("redis_unavailable_buffer_full", over);
    }
    this.status.info.pending = this.#pending.length;
    this.status.info.pending_bytes = this.#pendingBytes;
    return Promise.resolve();
  }

  /** Writes buffered samples with one pipelined EVALSHA per node. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => this.#flushing = null);
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    if (this.#pending.length === 0 || this.#redis.status !== "ready") return;
    const batch = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    const o = this.options;
    try {
      const sha = this.#scripts.write.sha ||
        (this.#scripts.write.sha = await this.#redis.script(
          "LOAD",
          this.#scripts.write.source,
        ) as string);
      const grouped = groupBySecond(batch, o.columns);
      await writeGrouped(this.#redis, grouped, { ...o, sha });
      this.#hints.record(grouped);
      this.status.ok(batch.length);
      this.status.state = "up";
    } catch (e) {
      if (errorMessage(e).includes("NOSCRIPT")) this.#scripts.write.sha = "";
      // Put the batch back in front; write() bounds the buffer.
      const later = this.#pending;
      this.#pending = [];
      this.#pendingBytes = 0;
      this.write(batch.concat(later));
      this.status.fail(e);
      this.status.state = "degraded";
    }
    this.status.info.pending = this.#pending.length;
  }

  /** Takes or renews the leader lock; true when this gateway leads (always without election). */
  async #lead(): Promise<boolean> {
    const l = this.options.leader;
    if (!l) return true;
    const r = Number(await this.#redis.eval(LEAD, 1, l.key, l.id, l.ttlMs));
    if (r === 2) {
      this.status.count("leader_acquired");
      this.options.log?.info("leading the aggregation", { id: l.id });
    }
    if (r === 0 && this.#leading) this.options.log?.warn("no longer leading", { id: l.id });
    this.#leading = r > 0;
    this.status.info.leader = this.#leading;
    return this.#leading;
  }

  async aggregate(level: Level, now: number): Promise<{ windows: number; more: boolean }> {
    const o = this.options;
    if (!(await this.#lead())) return { windows: 0, more: false };
    // Fencing: the script refuses to run unless the lock is still ours when it runs.
    const fence = o.leader ? [o.leader.key, o.leader.id] : [];
    const [windows, more, stop] = await this.#eval("aggregate", fence, [
      o.nodeSet,
      o.hashPrefix,
      o.keyPrefix,
      level.name,
      level.seconds,
      level.from?.name ?? "",
      level.from?.seconds ?? 0,
      Math.floor(now / 1000),
      o.graceSeconds,
      o.archiveTtlSeconds,
      o.maxWindowsPerCall,
      ...(level.from ? [] : this.#hints.args(level)),
    ]) as [number, number, number | undefined];
    if (windows < 0) {
      this.status.count("fenced");
      this.#leading = false;
      return { windows: 0, more: false };
    }
    if (stop !== undefined) this.#hints.forget(level, stop);
    this.status.count("windows_" + level.name, windows);
    return { windows, more: more === 1 };
  }

  async pendingWindows(limit: number): Promise<Window[]> {
    // Only the leader forwards: the others would race it on one list.
    if (this.options.leader && !this.#leading) return [];
    const rows = await this.#redis.lrange(`${this.options.keyPrefix}archive:pending`, 0, limit - 1);
    return rows.map((r) => JSON.parse(r) as Window);
  }

  async ackWindows(count: number): Promise<void> {
    const o = this.options;
    const list = `${o.keyPrefix}archive:pending`;
    if (!o.leader) {
      await this.#redis.ltrim(list, count, -1);
      return;
    }
    // Lost the lock meanwhile: the new leader forwards these again (same identity, no loss).
    if (Number(await this.#redis.eval(ACK, 2, o.leader.key, list, o.leader.id, count)) === 0) {
      this.status.count("fenced_acks");
      this.#leading = false;
    }
  }

  async query(q: SeriesQuery): Promise<SeriesPoint[] | Window[]> {
    const o = this.options;
    const member = `${o.hashPrefix}_${q.node}`;
    const from = Math.floor(q.from / 1000);
    const to = Math.ceil(q.to / 1000);
    const limit = q.limit ?? QUERY_LIMIT;
    if (q.level) {
      const level = findLevel(o.levels, q.level);
      // Window starts are read 1000 at a time (the HTTP API bounds the span it asks for).
      const out: Window[] = [];
      let w = Math.ceil(from / level.seconds) * level.seconds;
      while (w < to && out.length < limit) {
        const starts: number[] = [];
        for (; w < to && starts.length < 1000; w += level.seconds) starts.push(w);
        const pipe = this.#redis.pipeline();
        for (const s of starts) pipe.hgetall(`${o.keyPrefix}archive:${level.name}:${s}:${q.node}`);
        const results = (await pipe.exec()) ?? [];
        results.forEach(([, hash], i) => {
          const h = hash as Record<string, string>;
          if (!h || Object.keys(h).length === 0 || out.length >= limit) return;
          out.push({
            level: level.name,
            node: q.node,
            start: starts[i] * 1000,
            end: (starts[i] + level.seconds) * 1000,
            stats: statsFromHash(h),
          });
        });
      }
      return out;
    }
    const secs = await this.#redis.zrangebyscore(
      `${member}:idx`,
      from,
      `(${to}`,
      "LIMIT",
      0,
      limit,
    );
    if (secs.length === 0) return [];
    const values = await this.#redis.hmget(member, ...secs);
    const points: SeriesPoint[] = [];
    secs.forEach((s, i) => {
      if (values[i]) points.push({ ts: Number(s) * 1000, fields: JSON.parse(values[i]!) });
    });
    return points;
  }

  async nodes(): Promise<string[]> {
    const members = await this.#redis.smembers(this.options.nodeSet);
    return members.map((m) => m.slice(this.options.hashPrefix.length + 1)).sort();
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      // A graceful stop hands the lead over at once instead of after the lock's TTL.
      const l = this.options.leader;
      if (l && this.#leading) await this.#redis.eval(RELEASE, 1, l.key, l.id).catch(() => {});
    } finally {
      this.#redis.disconnect();
      this.status.state = "stopped";
    }
  }
}
