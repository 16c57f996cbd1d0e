import { z } from "zod";
import type { Envelope } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { RetryableError } from "../../errors.ts";
import { ANSWER_LIMIT } from "../../util/http_answer.ts";

/** Config of the Data-Service IPC sink. */
export const dataserviceIpcSchema = z.strictObject({
  type: z.literal("dataservice_ipc"),
  ...deliveryFields,
  /** The Data-Service's Unix socket (its default, or IPC_SOCKET_PATH). */
  socket: z.string().default("/tmp/dataservice.sock"),
  /** Key of a field: `{node}`, `{field}`, `{source}` are replaced. */
  key: z.string().default("{node}:{field}"),
  /** Keys mapped to Data-Service ids: those are written together with bulk_write_by_id. */
  ids: z.record(z.string(), z.string().regex(/^[0-9a-fA-F-]+$/, "expected a uuid (hex)")).default(
    {},
  ),
});

/** Parsed IPC sink config. */
export type DataServiceIpcConfig = z.output<typeof dataserviceIpcSchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Writes pipeline values to the Data-Service over its IPC socket: one JSON
 * request line per connection, one JSON response line. A missing or refusing
 * socket is retryable (records wait in the outbox); a key the service refuses
 * is counted with its error and not retried.
 */
export class DataServiceIpcSink implements Sink {
  constructor(readonly config: DataServiceIpcConfig, readonly ctx: SinkContext) {}

  async #request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({ transport: "unix", path: this.config.socket });
    } catch (e) {
      throw new RetryableError(
        `Data-Service socket ${this.config.socket} unavailable: ${errorMessage(e)}`,
      );
    }
    try {
      await conn.write(encoder.encode(JSON.stringify(body) + "\n"));
      let text = "";
      let size = 0;
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        // An answer line is read within the bound: a service that never ends it costs no more.
        size += n;
        if (size > ANSWER_LIMIT) {
          throw new RetryableError(
            `Data-Service on ${this.config.socket} sent an answer line longer than ${ANSWER_LIMIT} bytes`,
          );
        }
        const read = decoder.decode(buf.subarray(0, n), { stream: true });
        text += read;
        if (read.includes("\n")) break;
      }
      const line = text.split("\n")[0];
      if (!line) {
        throw new RetryableError(`Data-Service closed ${this.config.socket} without an answer`);
      }
      return JSON.parse(line);
    } catch (e) {
      if (e instanceof RetryableError) throw e;
      throw new RetryableError(`Data-Service request failed: ${errorMessage(e)}`);
    } finally {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
  }

  #refused(key: string, refusal: string): void {
    // The service's words, at most 300 characters of them, reach status and the log.
    const error = refusal.slice(0, 300);
    this.ctx.status.count("key_errors");
    const errors = (this.ctx.status.info.key_errors ??= {}) as Record<string, string>;
    errors[key] = error;
    this.ctx.log.warn("Data-Service refused a value", { key, error });
  }

  async write(batch: Envelope[]): Promise<void> {
    // Latest value per key wins within a batch.
    const values = new Map<string, unknown>();
    for (const e of batch) {
      if (e.kind !== "sample") continue;
      for (const [field, value] of Object.entries(e.data.fields)) {
        const key = this.config.key.replace("{node}", e.data.node).replace("{field}", field)
          .replace("{source}", e.data.source);
        values.set(key, value);
      }
    }
    const byId: { id: string; value: unknown; key: string }[] = [];
    for (const [key, value] of values) {
      const id = this.config.ids[key];
      if (id) {
        byId.push({ id, value, key });
        continue;
      }
      const res = await this.#request({ action: "write", key, value });
      if (res.ok !== true) this.#refused(key, String(res.error ?? "refused"));
      else this.ctx.status.count("keys_written");
    }
    if (byId.length > 0) {
      const res = await this.#request({
        action: "bulk_write_by_id",
        updates: byId.map(({ id, value }) => ({ id, value })),
      });
      if (res.ok !== true) {
        for (const u of byId) this.#refused(u.key, String(res.error ?? "refused"));
        return;
      }
      const results = (res.results ?? []) as { id: string; ok: boolean; error?: string }[];
      for (const u of byId) {
        const r = results.find((x) => x.id === u.id);
        if (r?.ok) this.ctx.status.count("keys_written");
        else this.#refused(u.key, r?.error ?? "no result for this id");
      }
    }
  }
}

/** The `dataservice_ipc` sink kind. */
export const dataserviceIpcSink = defineSink({
  type: "dataservice_ipc",
  schema: dataserviceIpcSchema,
  create: (config, ctx) => new DataServiceIpcSink(config, ctx),
});
