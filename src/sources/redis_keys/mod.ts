import type { Redis } from "ioredis";
import { createHash } from "node:crypto";
import { z } from "zod";
import { duration } from "../../config_values.ts";
import { type FieldValue, MAX_FIELDS, type Sample } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { nameProblem } from "../../names.ts";
import { ensureConnected, openRedis, redisFields } from "../redis_client.ts";
import { PollLoop } from "../poll_loop.ts";
import { defineSource, type SourceContext } from "../../plugin.ts";

const regex = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, "not a valid regular expression");

/** Config of the Redis key source (hissrv style: hashes of point id -> value). */
export const redisKeysSchema = z.strictObject({
  type: z.literal("redis_keys"),
  ...redisFields,
  /** SCAN MATCH patterns (never KEYS). */
  patterns: z.array(z.string().min(1)).min(1),
  interval: duration.default(10_000),
  /** Keys read per scan at most (memory grows with them); more are counted and skipped. */
  max_keys: z.number().int().min(1).max(1_000_000).default(100_000),
  /** SCAN COUNT hint. */
  count: z.number().int().min(1).default(1000),
  /** First matching mapping wins: node and tags from capture groups, point ids to field names. */
  mappings: z.array(z.strictObject({
    match: regex,
    node: z.string().default("$0"),
    tags: z.record(z.string(), z.string()).default({}),
    /** point id -> field name; `"*": direct` keeps other points under their id. */
    fields: z.record(z.string(), z.string()).default({ "*": "direct" }),
  })).default([]),
  /** Drop points whose JSON value object fails a filter (`quality eq good`); plain values pass. */
  filters: z.array(z.strictObject({
    field: z.string(),
    op: z.enum(["eq", "ne", "gt", "lt"]),
    value: z.union([z.string(), z.number()]),
  })).default([]),
});

/** Parsed Redis key source config. */
export type RedisKeysConfig = z.output<typeof redisKeysSchema>;

function fill(template: string, m: RegExpExecArray): string {
  return template.replace(/\$(\d+)/g, (_, i) => m[Number(i)] ?? "");
}

/** Turns one hash into a sample, or null when nothing is left after mapping and filters. */
export function hashToSample(
  key: string,
  hash: Record<string, string>,
  options: { config: RedisKeysConfig; source: string; stamp: (node: string) => number },
): Sample | null {
  const { mappings, filters } = options.config;
  let node = key;
  let tags: Record<string, string> = {};
  let names: Record<string, string> = { "*": "direct" };
  for (const mapping of mappings) {
    const m = new RegExp(mapping.match).exec(key);
    if (!m) continue;
    node = fill(mapping.node, m);
    tags = Object.fromEntries(Object.entries(mapping.tags).map(([k, v]) => [k, fill(v, m)]));
    names = mapping.fields;
    break;
  }
  const fields: Record<string, FieldValue> = {};
  for (const [point, raw] of Object.entries(hash)) {
    const name = names[point] ?? (names["*"] === "direct" ? point : undefined);
    if (!name) continue;
    let value: unknown = raw;
    let meta: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(raw);
      if (parsed && typeof parsed === "object" && "value" in parsed) {
        meta = parsed;
        value = parsed.value;
      } else value = parsed;
    } catch { /* a plain string */ }
    // Filters judge points that carry the field (JSON values like {"value":1,"quality":"good"}).
    const pass = filters.every((f) => {
      if (!(f.field in meta)) return true;
      const v = meta[f.field];
      if (f.op === "eq") return String(v) === String(f.value);
      if (f.op === "ne") return String(v) !== String(f.value);
      return typeof v === "number" && (f.op === "gt" ? v > Number(f.value) : v < Number(f.value));
    });
    if (!pass) continue;
    if (["number", "string", "boolean"].includes(typeof value)) fields[name] = value as FieldValue;
  }
  if (Object.keys(fields).length === 0 || nameProblem(node) !== null) return null;
  return { source: options.source, node, ts: options.stamp(node), fields, tags };
}

/** Scans Redis for hashes matching patterns and emits the changed ones as samples. */
export class RedisKeysSource {
  #redis: Redis | null = null;
  readonly #loop: PollLoop;
  /** A digest of each key's last content, so an unchanged hash is not emitted again. */
  #seen = new Map<string, string>();

  constructor(readonly config: RedisKeysConfig, readonly ctx: SourceContext) {
    this.#loop = new PollLoop(ctx.clock);
  }

  async start(): Promise<void> {
    this.#redis = await openRedis(this.config, this.ctx.status);
    this.#loop.start(() => this.#cycle());
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
    this.#redis?.disconnect();
    this.ctx.status.state = "stopped";
  }

  /** The changed hashes as samples, and what every scanned key holds now. */
  async #scanOnce(): Promise<{ samples: Sample[]; seen: Map<string, string> }> {
    const redis = this.#redis!;
    await ensureConnected(redis);
    const keys = new Set<string>();
    for (const pattern of this.config.patterns) {
      let cursor = "0";
      do {
        const [next, found] = await redis.scan(
          cursor,
          "MATCH",
          pattern,
          "COUNT",
          this.config.count,
        );
        cursor = next;
        for (const k of found) keys.add(k);
      } while (cursor !== "0" && keys.size < this.config.max_keys);
    }
    if (keys.size >= this.config.max_keys) {
      this.ctx.status.count("scans_over_max_keys");
      this.ctx.log.warn("more keys match than max_keys; the rest are not read this scan", {
        max_keys: this.config.max_keys,
        patterns: this.config.patterns.join(","),
      });
    }
    const list = [...keys].sort().slice(0, this.config.max_keys);
    const pipe = redis.pipeline();
    for (const k of list) pipe.hgetall(k);
    const results = (await pipe.exec()) ?? [];
    const samples: Sample[] = [];
    // Keys gone from Redis are forgotten: only what this scan found is remembered.
    const seen = new Map<string, string>();
    list.forEach((key, i) => {
      const [err, hash] = results[i];
      if (err) return; // not a hash: skip (counted below)
      if (Object.keys(hash as object).length > MAX_FIELDS) {
        this.ctx.status.drop("too_many_fields");
        return;
      }
      const content = createHash("sha1").update(JSON.stringify(hash)).digest("base64");
      seen.set(key, content);
      if (this.#seen.get(key) === content) {
        this.ctx.status.count("unchanged");
        return;
      }
      const s = hashToSample(key, hash as Record<string, string>, {
        config: this.config,
        source: this.ctx.name,
        stamp: (node) => this.ctx.stamp(node),
      });
      if (s) samples.push(s);
    });
    this.ctx.status.count("wrong_type", results.filter(([e]) => e).length);
    return { samples, seen };
  }

  /** One scan; returns the pause before the next. */
  async #cycle(): Promise<number> {
    try {
      const { samples, seen } = await this.#scanOnce();
      if (samples.length > 0) await this.ctx.emit(samples);
      // Only once the pipeline took them: a refused value is sent again on the next scan.
      this.#seen = seen;
      this.ctx.status.ok(samples.length);
      this.ctx.status.count("scans");
      this.ctx.status.state = "up";
    } catch (e) {
      this.ctx.status.fail(e);
      this.ctx.status.state = "degraded";
      this.ctx.log.warn("Redis scan failed; will retry", { error: errorMessage(e) });
    }
    return this.config.interval;
  }
}

/** The `redis_keys` source kind. */
export const redisKeysSource = defineSource({
  type: "redis_keys",
  schema: redisKeysSchema,
  create: (config, ctx) => new RedisKeysSource(config, ctx),
});
