import type { Envelope } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { settleAnswer } from "../http_status.ts";
import { defineSink, type Sink, type SinkContext } from "../../plugin.ts";
import { RetryableError } from "../../errors.ts";
import { createEncoder } from "./encode.ts";
import { type InfluxConfig, influxdbSchema } from "./schema.ts";
import { fetchClient } from "../../tls.ts";

/** A batch as line protocol, and gzipped when the sink sends gzip. */
interface PreparedWrite {
  body: string;
  gzipped?: Uint8Array;
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * InfluxDB sink: v1 `/write` (InfluxDB 1.x) or v2 `/api/v2/write`, both over fetch: the answer is
 * read within a bound and a redirect is never followed (the official v2 client, in Deno its
 * browser build, read error bodies whole and followed redirects with the token).
 */
export class InfluxSink implements Sink {
  readonly #encode: (batch: Envelope[]) => string;
  #client: Deno.HttpClient | undefined;

  constructor(readonly config: InfluxConfig, readonly ctx: SinkContext) {
    this.#encode = createEncoder(config, { gatewayId: ctx.gatewayId, kindOf: ctx.kindOf });
  }

  #url(path: string, params: Record<string, string | undefined>): string {
    const u = new URL(
      path,
      this.config.url.endsWith("/") ? this.config.url : this.config.url + "/",
    );
    for (const [k, v] of Object.entries(params)) if (v) u.searchParams.set(k, v);
    return u.toString();
  }

  #authHeaders(): Record<string, string> {
    const { username, password, token } = this.config;
    if (this.config.api === "v2") return { Authorization: `Token ${token}` };
    return username ? { Authorization: "Basic " + btoa(`${username}:${password ?? ""}`) } : {};
  }

  async connect(): Promise<void> {
    const c = this.config;
    this.#client ??= fetchClient(c);
    if (c.api === "v1" && c.create_database) {
      const q = `CREATE DATABASE "${c.database!.replace(/"/g, '\\"')}"`;
      await this.#post(this.#url("query", { q }), {});
    } else {
      // Reached at all? (Any answer will do: a proxy in front may know /write only.) An
      // unreachable server is then down with its error at start, before any record.
      try {
        const url = this.#url("ping", {});
        const signal = AbortSignal.timeout(c.timeout);
        const res = await fetch(url, { redirect: "manual", signal, client: this.#client });
        await res.body?.cancel();
      } catch (e) {
        throw new RetryableError(`InfluxDB at ${c.url} unreachable: ${errorMessage(e)}`);
      }
    }
  }

  /** A POST that never follows a redirect, its answer read within the bound. */
  async #post(url: string, init: RequestInit): Promise<void> {
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        method: "POST",
        headers: { ...this.#authHeaders(), ...init.headers },
        redirect: "manual",
        signal: AbortSignal.timeout(this.config.timeout),
        client: this.#client,
      });
    } catch (e) {
      throw new RetryableError(`InfluxDB at ${this.config.url} unreachable: ${errorMessage(e)}`);
    }
    await settleAnswer(res, "InfluxDB");
  }

  async write(batch: Envelope[]): Promise<void> {
    await this.send(await this.prepare(batch));
  }

  /** Two batches in the air with v1 (a point written twice overwrites itself). */
  get inFlight(): number {
    return this.config.api === "v2" ? 1 : this.config.in_flight;
  }

  /** Line protocol, gzipped when configured (null: nothing to send). */
  async prepare(batch: Envelope[]): Promise<PreparedWrite | null> {
    const body = this.#encode(batch);
    if (!body) return null;
    if (!this.config.gzip) return { body };
    return { body, gzipped: await gzip(body) };
  }

  /** Sends what {@link prepare} made. */
  async send(prepared: unknown): Promise<void> {
    const write = prepared as PreparedWrite | null;
    if (!write) return;
    const c = this.config;
    const url = c.api === "v2"
      ? this.#url("api/v2/write", { org: c.org, bucket: c.bucket, precision: "us" })
      : this.#url("write", { db: c.database, rp: c.retention_policy, precision: "u" });
    const headers: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8" };
    if (write.gzipped) headers["Content-Encoding"] = "gzip";
    await this.#post(url, { headers, body: (write.gzipped ?? write.body) as BodyInit });
  }

  close(): Promise<void> {
    this.#client?.close();
    this.#client = undefined;
    return Promise.resolve();
  }
}

/** The `influxdb` sink kind. */
export const influxdbSink = defineSink({
  type: "influxdb",
  schema: influxdbSchema,
  create: (config, ctx) => new InfluxSink(config, ctx),
  // Line protocol, gzip and the HTTP call run in a Worker, off the ingest thread.
  worker: true,
});
