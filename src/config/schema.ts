import { z } from "zod";
import { eventsSchema } from "../rules/schema.ts";
import { SINK_PLUGINS, sinkPlugin } from "../sinks/registry.ts";
import { SOURCE_PLUGINS, sourcePlugin } from "../sources/registry.ts";
import { SCHEMA_CHOICES } from "./display.ts";
import { bearerToken, componentName, duration, parseDuration, size } from "../config_values.ts";
import { redisFields } from "../sources/redis_client.ts";
import { isZone } from "../util/zone.ts";

/** A registry: every plugin of a kind, and the one of a config's `type`. */
interface Registry {
  all: { type: string }[];
  of: (type: string | undefined) => { schema: z.ZodType } | undefined;
}

function pluginUnion(what: string, registry: Registry) {
  const types = registry.all.map((p) => p.type);
  const union = z.looseObject({ type: z.string() }).transform((value, ctx) => {
    const plugin = registry.of(value.type);
    if (!plugin) {
      ctx.addIssue({
        code: "custom",
        path: ["type"],
        message: value.type === undefined
          ? `missing ${what} type; set type: to one of ${types.join(", ")}`
          : `unknown ${what} type "${value.type}" (check the spelling); known: ${types.join(", ")}`,
      });
      return z.NEVER;
    }
    const result = plugin.schema.safeParse(value, { reportInput: true });
    if (!result.success) {
      for (const issue of result.error.issues) {
        ctx.addIssue({ ...issue, code: issue.code } as never);
      }
      return z.NEVER;
    }
    return result.data as { type: string } & Record<string, unknown>;
  });
  SCHEMA_CHOICES.set(union, (v) => {
    const type = (v as { type?: unknown } | null)?.type;
    return typeof type === "string" ? registry.of(type)?.schema : undefined;
  });
  return union;
}

const levelName = z.string().transform((v, ctx) => {
  try {
    const ms = parseDuration(v);
    if (ms % 1000 !== 0 || ms < 1000) throw new Error("windows are whole seconds");
    return v;
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const redisSchema = z.strictObject({
  ...redisFields,
  /** vemonitor_m8 uses db 3. */
  db: redisFields.db.default(3),
  /** vemonitor_m8's `redis_node`: the key of the set listing the node hashes. */
  node_set: z.string().min(1).default("gateway"),
  /** Hash names are `<hash_prefix>_<node>`; defaults to node_set (older vemonitor_m8 uses "n"). */
  hash_prefix: z.string().min(1).optional(),
  /** Prefix for archive keys. */
  key_prefix: z.string().default(""),
  /** vemonitor_m8's read period; samples are sent every time_interval x cache_interval. */
  time_interval: duration.default(1000),
  cache_interval: z.number().int().min(1).default(1),
  /** Samples kept in memory while Redis is down (or cannot keep up). */
  max_pending: z.number().int().min(1).default(100_000),
  /** The same bound in bytes: samples can be large. */
  max_pending_bytes: size.default(64 * 1024 * 1024),
  /**
   * Several gateways on one Redis (hissrv's high availability): one leader, elected with a
   * lock key renewed on every aggregation pass, computes and forwards the windows; the others
   * keep writing samples. Windows are fenced: a stale leader's late pass is refused.
   */
  leader: z.strictObject({ ttl: duration.default(15_000) }).optional(),
});

/** Valid ranges of DataLake metrics; values outside are clamped (and counted). */
export const DEFAULT_RANGES: Record<string, [number, number]> = {
  temperature: [-40, 150],
  humidity: [0, 100],
  smoke_density: [0, 1],
  co_level: [0, 1],
  gas_level: [0, 1],
};

/** The whole gateway configuration. */
export const gatewaySchema = z.strictObject({
  gateway: z.strictObject({
    /** Tagged on every record upstream; defaults to the hostname. */
    id: z.string().min(1).optional(),
    data_dir: z.string().default("./data"),
    /** Longest a graceful stop may take before the process exits anyway (code 1). */
    stop_timeout: duration.default(20_000),
    /**
     * Sinks whose work is CPU (InfluxDB) run in a Worker each, off the thread that takes data
     * in: the Worker reads the outbox, decodes, encodes and sends. Measured: +10-20% end to end
     * for ~20 MiB more RSS under load; off by default for small boards.
     */
    delivery_workers: z.boolean().default(false),
    /**
     * The site's time zone (IANA name) for days and the times on pages, and the simulated sun;
     * by default the system's (TZ, /etc/localtime). Windows stay aligned to UTC.
     */
    timezone: z.string().refine(isZone, {
      message: "not a time zone this system knows: give an IANA name such as Europe/Berlin or UTC",
    }).optional(),
    /**
     * Group commit: the outbox and the store commit what sources handed over once per interval
     * (one fsync), sooner when a sender waits for it (MQTT `ack: commit`, POST /ingest). What a
     * power cut or kill -9 may lose of the other sources: at most this long. 0 commits every
     * hand-over at once (an fsync each: ~45x the data written, issue #37).
     */
    commit_interval: duration.refine((ms) => ms <= 300_000, "at most 5m").default(10_000),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(["debug", "info", "warn", "error"]).default("info"),
    format: z.enum(["text", "json"]).default("text"),
  }).prefault({}),
  http: z.strictObject({
    enabled: z.boolean().default(true),
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8082),
    /** Bearer token for mutating endpoints; without it they answer 401. */
    token: bearerToken.optional(),
    /** When set, every endpoint but /health needs this bearer token (a page address: `?token=`). */
    read_token: bearerToken.optional(),
    max_body: size.default(1024 * 1024),
    /** Connections served at once; more are closed on arrival. */
    max_connections: z.number().int().min(1).max(10_000).default(64),
    /**
     * Connections from one address at once, so one client cannot hold every slot; behind a
     * reverse proxy on this host every client is the proxy's address: raise it to max_connections.
     */
    max_connections_per_client: z.number().int().min(1).max(10_000).default(16),
    /** A connection silent this long is closed. */
    idle_timeout: duration.default(30_000),
    /** A new connection must send its request's first bytes within this long. */
    header_timeout: duration.default(10_000),
    /** How far ahead of the clock a sample's own time (`ts`, `measured_at`) may be. */
    max_future: duration.default(300_000),
    /** Nodes whose latest values /metrics exposes (the least recently heard go first); 0 none. */
    metrics_max_nodes: z.number().int().min(0).max(100_000).default(1000),
    /** Valid ranges of /ingest fields: values beyond are clamped and counted. */
    ranges: z.record(z.string(), z.tuple([z.number(), z.number()])).default(DEFAULT_RANGES),
  }).prefault({}),
  store: z.strictObject({
    type: z.enum(["embedded", "redis"]).default("embedded"),
    max_rows: z.number().int().min(1).default(3600),
    /** Fields kept in the store; all when empty. */
    columns: z.array(z.string()).default([]),
    windows: z.array(z.strictObject({ level: levelName, from: z.string().optional() }))
      .default([{ level: "1m" }, { level: "5m", from: "1m" }]),
    grace: duration.default(10_000),
    /** Percentiles added to every window and column (`[50, 90, 95, 99]`); none by default. */
    percentiles: z.array(z.number().int().min(1).max(99)).max(8).default([]),
    /** How long windows stay in the store (the device view draws the last 24 h of them). */
    archive_ttl: duration.default(26 * 3_600_000),
    aggregate_every: duration.default(5000),
    redis: redisSchema.optional(),
  }).prefault({}).refine((s) => s.type !== "redis" || s.redis !== undefined, {
    message: "store.type redis needs a store.redis section (host, port, db, ...)",
  }).refine((s) => !s.redis?.leader || s.redis.leader.ttl >= 2 * s.aggregate_every, {
    message: "store.redis.leader.ttl must be at least twice store.aggregate_every (the lock is " +
      "renewed on every aggregation pass)",
  }).refine(
    (s) => s.windows.every((w) => w.from || parseDuration(w.level) / 1000 <= s.max_rows),
    {
      path: ["max_rows"],
      message: "must be at least the length in seconds of every window computed from raw " +
        "samples, or windows would miss trimmed data",
    },
  ),
  outbox: z.strictObject({
    max_bytes: size.default(256 * 1024 ** 2),
    /** Records upstreams refused, kept for inspection and replay (inside max_bytes, at most 1/4). */
    max_dead_letters: size.default(16 * 1024 ** 2),
    max_age: duration.default(0),
    on_full: z.enum(["drop_oldest", "reject_new"]).default("drop_oldest"),
    sync: z.enum(["full", "normal"]).default("full"),
  }).prefault({}),
  events: eventsSchema,
  sources: z.record(componentName, pluginUnion("source", { all: SOURCE_PLUGINS, of: sourcePlugin }))
    .default({}),
  sinks: z.record(componentName, pluginUnion("sink", { all: SINK_PLUGINS, of: sinkPlugin }))
    .default({}),
});

/** The parsed gateway configuration. */
export type GatewayConfig = z.output<typeof gatewaySchema>;
