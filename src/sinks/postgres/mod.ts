/**
 * pepeunit's LastValue in PostgreSQL: its backend shows a node's last state only
 * from `units_nodes.state` and `last_update_datetime`, which its data pipe sets
 * with one batched UPDATE by uuid. This sink does the same from the policies'
 * LastValue rows (n_last_entry with max_count 1), through the outbox: a replayed
 * or late batch never overwrites a newer state.
 */
import type postgres from "postgres";
import { z } from "zod";
import type { Entry, Envelope } from "../../model.ts";
import { nodeUuid } from "../../names.ts";
import { errorMessage } from "../../status.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { RejectedError, RetryableError } from "../../errors.ts";
import { tlsFields, tlsOptions } from "../../tls.ts";

/** Config of the PostgreSQL sink (pepeunit's units_nodes). */
export const postgresSchema = z.strictObject({
  type: z.literal("postgres"),
  ...deliveryFields,
  forward: deliveryFields.forward.default(["entry"]),
  /** pepeunit's data pipe flushes LastValue every 5 s. */
  max_wait: deliveryFields.max_wait.default(5000),
  /** `postgres://user@host:5432/pepeunit` (the password apart, or from `password_file`). */
  url: z.string().regex(/^postgres(ql)?:\/\//, "a postgres:// URL"),
  password: z.string().optional(),
  /** Table and columns as pepeunit's backend has them. */
  table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/, "a plain identifier").default(
    "units_nodes",
  ),
  /** TLS (`sslmode=require` and up): a private CA, a client certificate. */
  tls: z.boolean().default(false),
  ...tlsFields,
});

/** Parsed PostgreSQL sink config. */
export type PostgresConfig = z.output<typeof postgresSchema>;

type LastValue = Extract<Entry, { table: "n_last_entry" }>;

/** The newest LastValue row per node of a batch (latest wins, as in pepeunit). */
export function latestStates(batch: Envelope[]): LastValue[] {
  const latest = new Map<string, LastValue>();
  for (const e of batch) {
    if (e.kind !== "entry" || e.data.table !== "n_last_entry" || e.data.max_count !== 1) continue;
    const prev = latest.get(e.data.node);
    if (!prev || e.data.ts >= prev.ts) latest.set(e.data.node, e.data);
  }
  return [...latest.values()];
}

// Refusals of the statement itself (bad table, permissions): retrying cannot help.
const REJECTED_CODES = new Set(["42P01", "42703", "42501", "22P02"]);

/** Writes LastValue states into units_nodes with one UPDATE per batch. */
export class PostgresSink implements Sink {
  #sql: postgres.Sql | null = null;

  constructor(readonly config: PostgresConfig, readonly ctx: SinkContext) {}

  async connect(): Promise<void> {
    if (this.#sql) return;
    const c = this.config;
    // Loaded when a PostgreSQL sink is configured.
    const { default: connect } = await import("postgres");
    this.#sql = connect(c.url, {
      password: c.password,
      max: 2,
      connect_timeout: Math.ceil(c.timeout / 1000),
      idle_timeout: 60,
      ssl: c.tls ? tlsOptions(c) : false,
      onnotice: () => {},
    });
    try {
      await this.#sql`SELECT 1`;
    } catch (e) {
      // Not connected: the next attempt makes a new client and checks again.
      const sql = this.#sql;
      this.#sql = null;
      await sql.end({ timeout: 0 }).catch(() => {});
      throw this.#classify(e, "connect");
    }
  }

  #classify(e: unknown, what: string): Error {
    const code = (e as { code?: string }).code ?? "";
    const msg = `PostgreSQL ${what} (${this.config.table}): ${errorMessage(e)}`;
    return REJECTED_CODES.has(code) ? new RejectedError(msg) : new RetryableError(msg);
  }

  async write(batch: Envelope[]): Promise<void> {
    const states = latestStates(batch);
    if (states.length === 0) return;
    const sql = this.#sql!;
    const rows = states.map((s) => [
      nodeUuid(s.node),
      s.state,
      new Date(s.ts).toISOString().replace("T", " ").replace("Z", ""),
    ]);
    try {
      const updated = await sql`
        UPDATE ${sql(this.config.table)} AS t
        SET state = c.state, last_update_datetime = c.at::timestamp
        FROM (VALUES ${sql(rows)}) AS c(uuid, state, at)
        WHERE t.uuid = c.uuid::uuid
          AND (t.last_update_datetime IS NULL OR t.last_update_datetime <= c.at::timestamp)
        RETURNING t.uuid`;
      // A node pepeunit does not know (or a newer state already there) changes nothing.
      const missed = states.length - updated.length;
      if (missed > 0) this.ctx.status.count("states_not_applied", missed);
      this.ctx.status.count("states_written", updated.length);
    } catch (e) {
      throw this.#classify(e, "update");
    }
  }

  async close(): Promise<void> {
    const sql = this.#sql;
    this.#sql = null;
    await sql?.end({ timeout: 2 }).catch(() => {});
  }
}

/** The `postgres` sink kind. */
export const postgresSink = defineSink({
  type: "postgres",
  schema: postgresSchema,
  create: (config, ctx) => new PostgresSink(config, ctx),
});
