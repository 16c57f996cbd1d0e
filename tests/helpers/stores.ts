/** Builds both store kinds for contract tests: embedded in a temp dir, Redis on a real server. */
import { EmbeddedStore } from "../../src/store/embedded.ts";
import { RedisStore } from "../../src/store/redis.ts";
import type { Store, StoreOptions } from "../../src/store/store.ts";
import { buildLevels } from "../../src/store/windows.ts";

/** The levels used by the contract tests: 1m, and 5m rolled up from 1m. */
export const LEVELS = buildLevels([
  { name: "1m", seconds: 60 },
  { name: "5m", seconds: 300, from: "1m" },
]);

/** Store options for tests; override what a case needs. */
export function storeOptions(over: Partial<StoreOptions> = {}): StoreOptions {
  return {
    maxRows: 3600,
    columns: [],
    graceSeconds: 10,
    archiveTtlSeconds: 7200,
    maxWindowsPerCall: 240,
    levels: LEVELS,
    ...over,
  };
}

/** A factory of stores that share their data across instances (to test restarts). */
export type StoreFactory = (options?: Partial<StoreOptions>) => Promise<Store>;

/** Embedded stores on one file in a fresh temp dir. */
export async function embeddedFactory(): Promise<StoreFactory> {
  const dir = await Deno.makeTempDir({ prefix: "store-" });
  return async (over) => {
    const s = new EmbeddedStore(`${dir}/store.db`, storeOptions(over));
    await s.open();
    return s;
  };
}

/** Redis stores on one node set of a real redis-server. */
export function redisFactory(
  port: number,
  nodeSet: string,
  auth: { password?: string } = {},
): StoreFactory {
  return async (over) => {
    const s = new RedisStore({
      ...storeOptions(over),
      host: "127.0.0.1",
      port,
      db: 3,
      password: auth.password,
      tls: null,
      nodeSet,
      hashPrefix: nodeSet,
      keyPrefix: `${nodeSet}:`,
      maxPending: 1_000_000,
      maxPendingBytes: 1024 ** 3,
    });
    await s.open();
    return s;
  };
}
