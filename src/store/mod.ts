import type { GatewayConfig } from "../config/schema.ts";
import { parseDuration } from "../config_values.ts";
import { EmbeddedStore } from "./embedded.ts";
import { RedisStore } from "./redis.ts";
import type { Level, Store, StoreOptions } from "./store.ts";
import type { Logger } from "../log.ts";
import { buildLevels } from "./windows.ts";
import type { Clock } from "../util/clock.ts";
import { settledNow } from "../util/wall_clock.ts";

export type { Level, Store } from "./store.ts";

/** The aggregation levels of a store config. */
export function levelsOf(store: GatewayConfig["store"]): Level[] {
  return buildLevels(store.windows.map((w) => ({
    name: w.level,
    seconds: parseDuration(w.level) / 1000,
    from: w.from,
  })));
}

/** Builds the configured store (embedded by default, Redis when `store.type: redis`). */
export function createStore(
  config: GatewayConfig,
  context: { log?: Logger; clock?: Clock } = {},
): Store {
  const s = config.store;
  const options: StoreOptions = {
    maxRows: s.max_rows,
    columns: s.columns,
    graceSeconds: Math.round(s.grace / 1000),
    archiveTtlSeconds: Math.round(s.archive_ttl / 1000),
    maxWindowsPerCall: 240,
    levels: levelsOf(s),
    percentiles: s.percentiles,
    grouped: config.gateway.commit_interval > 0,
    sync: config.outbox.sync === "normal" ? "NORMAL" : "FULL",
    log: context.log,
    archiveNow: context.clock ? () => settledNow(context.clock!, s.archive_ttl) : undefined,
  };
  if (s.type === "redis" && s.redis) {
    const r = s.redis;
    return new RedisStore({
      ...options,
      host: r.host,
      port: r.port,
      db: r.db,
      username: r.username,
      password: r.password,
      tls: r.tls ? { ca: r.ca, cert: r.cert, key: r.key, insecure: r.insecure } : null,
      nodeSet: r.node_set,
      hashPrefix: r.hash_prefix ?? r.node_set,
      keyPrefix: r.key_prefix,
      maxPending: r.max_pending,
      maxPendingBytes: r.max_pending_bytes,
      leader: r.leader
        ? {
          key: `${r.key_prefix}leader`,
          // Unique per process: two gateways copied with one id still tell each other apart.
          id: `${config.gateway.id}:${crypto.randomUUID().slice(0, 8)}`,
          ttlMs: r.leader.ttl,
        }
        : null,
    });
  }
  return new EmbeddedStore(`${config.gateway.data_dir}/store.db`, options);
}

/** How often buffered store writes are sent (vemonitor's time_interval x cache_interval). */
export function storeFlushInterval(config: GatewayConfig): number {
  const r = config.store.redis;
  return config.store.type === "redis" && r ? r.time_interval * r.cache_interval : 1000;
}
