/**
 * ClickHouse sink: writes the storage policies' rows into pepeunit's tables
 * (created if missing), and keeps what the policies promise: the newest
 * max_count rows per node, expired window rows deleted.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import { createHash } from "node:crypto";
import { z } from "zod";
import { duration } from "../../config_values.ts";
import type { Envelope } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { RejectedError, RetryableError } from "../../errors.ts";
import { hasTls, tlsFields, tlsOptions } from "../../tls.ts";
import { type BoundedAgent, createHttpAgent } from "../http_agent.ts";
import {
  createTable,
  type Dialect,
  dialectOf,
  EXPIRED,
  type OverLimit,
  overLimitQuery,
  rowOf,
  type Table,
  TABLES,
  trimStatement,
} from "./tables.ts";

/** Config of the ClickHouse sink. */
export const clickhouseSchema = z.strictObject({
  type: z.literal("clickhouse"),
  ...deliveryFields,
  forward: deliveryFields.forward.default(["entry"]),
  /** pepeunit flushes its buffers every 5 s or at 1000 entries. */
  max_wait: duration.default(5000),
  url: z.url(),
  database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a plain identifier").default("default"),
  username: z.string().default("default"),
  password: z.string().optional(),
  /** Create the database and the tables when missing. */
  create_tables: z.boolean().default(true),
  /** How often rows beyond a node's max_count (and expired rows) are deleted. */
  retention_every: duration.default(60_000),
  /** TLS for `https://`: a private CA, a client certificate. */
  ...tlsFields,
});

/** Parsed ClickHouse sink config. */
export type ClickHouseConfig = z.output<typeof clickhouseSchema>;

/** Error codes that mean the rows themselves are wrong (parse/type errors): retrying cannot help. */
const REJECTED_CODES = new Set([6, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 130, 131]);

/** `refusal`: why the agent ended the answer (too large, a redirect), which is then retried. */
function classify(e: unknown, where: string, refusal: string | null): Error {
  if (refusal) return new RetryableError(`ClickHouse ${where}: ${refusal}`);
  const msg = `ClickHouse ${where}: ${errorMessage(e).slice(0, 300)}`;
  const code = Number(
    (e as { code?: string }).code ?? /Code: (\d+)/.exec(errorMessage(e))?.[1] ?? NaN,
  );
  return REJECTED_CODES.has(code) ? new RejectedError(msg) : new RetryableError(msg);
}

/** Sends policy rows to ClickHouse and applies max_count and expiry retention. */
export class ClickHouseSink implements Sink {
  #client: ClickHouseClient | null = null;
  #agent: BoundedAgent | null = null;
  #dialect: Dialect = "modern";
  #written = new Set<Table>();
  #retention: ReturnType<typeof setInterval> | undefined;
  #retaining: Promise<void> | null = null;

  constructor(readonly config: ClickHouseConfig, readonly ctx: SinkContext) {}

  /** The server's dialect once connected. */
  get dialect(): Dialect {
    return this.#dialect;
  }

  async connect(): Promise<void> {
    const c = this.config;
    await this.#client?.close();
    this.#agent?.agent.destroy();
    // Loaded when a ClickHouse sink is configured: ~11 MB a gateway without one does not carry.
    const { ClickHouseLogLevel, createClient } = await import("@clickhouse/client");
    const client = createClient({
      url: c.url,
      username: c.username,
      password: c.password ?? "",
      request_timeout: c.timeout,
      // The outbox owns retries and logs failures once, with context.
      log: { level: ClickHouseLogLevel.OFF },
      // An agent of our own bounds every answer, refuses redirects, and carries the CA, the
      // client certificate and `insecure` alike.
      http_agent: (this.#agent = await createHttpAgent(c.url, {
        where: "the server",
        tls: hasTls(c) ? tlsOptions(c) : undefined,
      })).agent,
    });
    this.#client = client;
    try {
      const rows = await (await client.query({
        query: "SELECT version() AS v",
        format: "JSONEachRow",
      })).json<{ v: string }>();
      this.#dialect = dialectOf(rows[0].v);
      this.ctx.status.info.server = rows[0].v;
      this.ctx.status.info.dialect = this.#dialect;
      if (c.create_tables) {
        await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${c.database}` });
        for (const t of TABLES) {
          await client.command({
            query: createTable(t, { dialect: this.#dialect, database: c.database }),
          });
        }
      }
    } catch (e) {
      throw classify(e, `connect to ${c.url}`, this.#refusal());
    }
    this.#retention ??= setInterval(() => void this.retain(), c.retention_every);
  }

  async write(batch: Envelope[]): Promise<void> {
    const client = this.#client!;
    const byTable = new Map<Table, Record<string, unknown>[]>();
    for (const e of batch) {
      if (e.kind !== "entry") continue;
      const entry = e.data;
      let rows = byTable.get(entry.table);
      if (!rows) byTable.set(entry.table, rows = []);
      rows.push(rowOf(entry, this.#dialect));
    }
    for (const [table, rows] of byTable) {
      // Same rows, same token: a replayed batch is dropped by servers that deduplicate inserts.
      const token = createHash("sha1").update(JSON.stringify(rows)).digest("hex");
      try {
        await client.insert({
          table: `${this.config.database}.${table}`,
          values: rows,
          format: "JSONEachRow",
          clickhouse_settings: this.#dialect === "modern"
            ? { insert_deduplication_token: token }
            : {},
        });
      } catch (e) {
        throw classify(e, `insert into ${table}`, this.#refusal());
      }
      this.#written.add(table);
    }
  }

  /**
   * Deletes rows beyond each node's max_count (n_last_entry, file_entry) and, where
   * the server has no TTL, expired rows. A failure is logged and retried next time.
   */
  retain(): Promise<void> {
    return this.#retaining ??= this.#retain().finally(() => this.#retaining = null);
  }

  async #retain(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    const db = this.config.database;
    const sql = { dialect: this.#dialect, database: db };
    // The tables written since the last pass, taken now: a write during this pass marks its table
    // again for the next one (clearing after the pass lost those, and their rows stayed).
    const written = new Set(this.#written);
    this.#written.clear();
    try {
      for (const table of ["n_last_entry", "file_entry"] as const) {
        if (!written.has(table)) continue;
        const over = await (await client.query({
          query: overLimitQuery(table, sql),
          format: "JSONEachRow",
        })).json<OverLimit>();
        if (over.length === 0) continue;
        await client.command({ query: trimStatement(table, over, sql) });
        this.ctx.status.count("retention_deletes");
      }
      // Without TTL (legacy servers, and file rows that never expire) the sink deletes them.
      const expiring: Table[] = this.#dialect === "legacy"
        ? ["window_entry", "file_entry"]
        : ["file_entry"];
      for (const table of expiring) {
        const rows = await (await client.query({
          query: `SELECT count() AS c FROM ${db}.${table} WHERE ${EXPIRED}`,
          format: "JSONEachRow",
        })).json<{ c: string | number }>();
        if (Number(rows[0]?.c ?? 0) === 0) continue;
        await client.command({ query: `ALTER TABLE ${db}.${table} DELETE WHERE ${EXPIRED}` });
        this.ctx.status.count("expiry_deletes");
      }
    } catch (e) {
      for (const t of written) this.#written.add(t);
      this.ctx.log.warn("retention pass failed; will retry", {
        error: this.#refusal() ?? errorMessage(e).slice(0, 300),
      });
    }
  }

  #refusal(): string | null {
    return this.#agent?.refusal() ?? null;
  }

  async close(): Promise<void> {
    clearInterval(this.#retention);
    this.#retention = undefined;
    await this.#retaining;
    await this.#client?.close();
    this.#client = null;
    this.#agent?.agent.destroy();
  }
}

/** The `clickhouse` sink kind. */
export const clickhouseSink = defineSink({
  type: "clickhouse",
  schema: clickhouseSchema,
  create: (config, ctx) => new ClickHouseSink(config, ctx),
  // Rows, their JSON and the HTTP calls (retention passes too) run in a Worker, off the ingest thread.
  worker: true,
});
