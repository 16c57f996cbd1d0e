/**
 * Reads HmapTimeSeries back out of Redis (vemonitor_m8's layout, which our Redis
 * store also writes): `SMEMBERS <node_set>`, then each `<prefix>_<node>` hash's
 * seconds newer than the node's cursor, forwarded as samples stamped with their
 * own second. The cursor advances only after the pipeline took the samples and is
 * kept in `<data_dir>`, so every second is forwarded once, across restarts too
 * (a crash between the hand-over and the cursor's save repeats the same points).
 */
import type { Redis } from "ioredis";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { z } from "zod";
import { duration } from "../../config_values.ts";
import { type FieldValue, MAX_FIELDS, type Sample } from "../../model.ts";
import { nameProblem, pathSegment } from "../../names.ts";
import { errorMessage } from "../../status.ts";
import { openChecked } from "../../util/sqlite.ts";
import { PollLoop } from "../poll_loop.ts";
import { ensureConnected, openRedis, redisFields } from "../redis_client.ts";
import { defineSource, type SourceContext } from "../../plugin.ts";

/** Config of the HmapTimeSeries reader. */
export const hmapSchema = z.strictObject({
  type: z.literal("hmap"),
  ...redisFields,
  /** vemonitor_m8's default database. */
  db: redisFields.db.default(3),
  /** The set listing the hashes (vemonitor_m8's `redis_node`). */
  node_set: z.string().min(1).default("gateway"),
  /** Hash names are `<hash_prefix>_<node>`; the node set's name when not given. */
  hash_prefix: z.string().optional(),
  interval: duration.default(5000),
  /** Seconds read per hash and cycle at most (a backlog is read over several cycles). */
  batch: z.number().int().min(1).max(10_000).default(500),
  /** Hashes read per cycle at most; beyond, they are counted and read later. */
  max_nodes: z.number().int().min(1).max(100_000).default(10_000),
});

/** Parsed HmapTimeSeries reader config. */
export type HmapConfig = z.output<typeof hmapSchema>;

/** The samples of one hash's fields (`<unix second>` -> JSON object); others are counted. */
export function hashSamples(
  node: string,
  fields: [string, string | null][],
  options: { source: string },
): { samples: Sample[]; bad: number } {
  const samples: Sample[] = [];
  let bad = 0;
  for (const [second, json] of fields) {
    if (json === null) continue; // trimmed between the listing and the read
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      bad++;
      continue;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      bad++;
      continue;
    }
    const values: Record<string, FieldValue> = {};
    let n = 0;
    for (const [k, v] of Object.entries(parsed)) {
      if (v !== null && !["number", "string", "boolean"].includes(typeof v)) continue;
      if (++n > MAX_FIELDS) break;
      values[k] = v as FieldValue;
    }
    samples.push({ source: options.source, node, ts: Number(second) * 1000, fields: values });
  }
  return { samples, bad };
}

/** Forwards the new seconds of every hash of a node set. */
export class HmapSource {
  #redis: Redis | null = null;
  #db: DatabaseSync | null = null;
  #get!: StatementSync;
  #set!: StatementSync;
  readonly #loop: PollLoop;

  constructor(readonly config: HmapConfig, readonly ctx: SourceContext) {
    this.#loop = new PollLoop(ctx.clock);
  }

  get #prefix(): string {
    return `${this.config.hash_prefix ?? this.config.node_set}_`;
  }

  async start(): Promise<void> {
    await Deno.mkdir(this.ctx.dataDir, { recursive: true });
    this.#db = openChecked(`${this.ctx.dataDir}/hmap-${pathSegment(this.ctx.name)}.db`, {
      synchronous: "NORMAL",
    });
    this.#db.exec(
      "CREATE TABLE IF NOT EXISTS cursors (hash TEXT PRIMARY KEY, second INTEGER NOT NULL)",
    );
    this.#get = this.#db.prepare("SELECT second FROM cursors WHERE hash = ?");
    this.#set = this.#db.prepare(
      "INSERT INTO cursors (hash, second) VALUES (?, ?) " +
        "ON CONFLICT (hash) DO UPDATE SET second = excluded.second",
    );
    this.#redis = await openRedis(this.config, this.ctx.status);
    this.#loop.start(() => this.#cycle());
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
    this.#redis?.disconnect();
    this.#db?.close();
    this.#db = null;
    this.ctx.status.state = "stopped";
  }

  async #cycle(): Promise<number> {
    const { status, log } = this.ctx;
    try {
      const redis = this.#redis!;
      await ensureConnected(redis);
      const members = (await redis.smembers(this.config.node_set))
        .filter((m) => m.startsWith(this.#prefix)).sort();
      if (members.length > this.config.max_nodes) {
        status.count("nodes_over_max_nodes", members.length - this.config.max_nodes);
      }
      for (const hash of members.slice(0, this.config.max_nodes)) await this.#readHash(redis, hash);
      status.count("cycles");
      status.state = "up";
      return this.config.interval;
    } catch (e) {
      status.state = "down";
      status.fail(e);
      log.warn("HmapTimeSeries read failed; trying again", { error: errorMessage(e) });
      return Math.min(this.config.interval * 2, 60_000);
    }
  }

  async #readHash(redis: Redis, hash: string): Promise<void> {
    const node = hash.slice(this.#prefix.length);
    if (nameProblem(node) !== null) {
      this.ctx.status.drop("bad_node_name");
      return;
    }
    const cursor = Number(this.#get.get(hash)?.second ?? -1);
    // Integer seconds only: other writers' extra fields (and our :idx key) are not samples.
    const seconds = (await redis.hkeys(hash))
      .filter((k) => /^\d{1,12}$/.test(k) && Number(k) > cursor)
      .sort((a, b) => Number(a) - Number(b))
      .slice(0, this.config.batch);
    if (seconds.length === 0) return;
    const values = await redis.hmget(hash, ...seconds);
    const { samples, bad } = hashSamples(
      node,
      seconds.map((s, i) => [s, values[i]]),
      { source: this.ctx.name },
    );
    if (bad > 0) this.ctx.status.drop("bad_value", bad);
    // The read cursor below moves past these seconds: they must be committed first.
    if (samples.length > 0) await this.ctx.emit(samples, { wait: true });
    this.ctx.status.ok(samples.length);
    // After the hand-over only: a refused emit throws above and the seconds are read again.
    this.#set.run(hash, Number(seconds.at(-1)));
  }
}

/** The `hmap` source kind. */
export const hmapSource = defineSource({
  type: "hmap",
  schema: hmapSchema,
  create: (config, ctx) => new HmapSource(config, ctx),
});
