/** A Redis connection for the sources that read Redis (its config keys and the client). */
import type { Redis } from "ioredis";
import { z } from "zod";
import type { ComponentStatus } from "../status.ts";
import { tlsFields, tlsOptions, type TlsSettings } from "../tls.ts";

/** Config keys of a source's Redis connection. */
export const redisFields = {
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(1).max(65535).default(6379),
  db: z.number().int().min(0).max(15).default(0),
  username: z.string().optional(),
  password: z.string().optional(),
  /** rediss: TLS to Redis, with a CA to trust, a client certificate, or `insecure`. */
  tls: z.boolean().default(false),
  ...tlsFields,
};

/** A source's Redis connection settings, as parsed. */
export interface RedisSettings extends TlsSettings {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

/** An ioredis client that connects on first use, fails fast while down, and reports errors. */
export async function openRedis(c: RedisSettings, status: ComponentStatus): Promise<Redis> {
  // Loaded by the sources that read Redis only.
  const { Redis } = await import("ioredis");
  const redis = new Redis({
    host: c.host,
    port: c.port,
    db: c.db,
    username: c.username,
    password: c.password,
    tls: c.tls ? tlsOptions(c) : undefined,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (n: number) => Math.min(n * 200, 5000),
  });
  redis.on("error", (e: Error) => status.lastError = { at: Date.now(), message: e.message });
  return redis;
}

/** Connects a client made by {@link openRedis} when it is not (yet, or any more). */
export async function ensureConnected(redis: Redis): Promise<void> {
  if (redis.status === "wait" || redis.status === "end") await redis.connect();
}
