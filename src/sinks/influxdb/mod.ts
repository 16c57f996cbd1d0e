import type { WriteApi } from "@influxdata/influxdb-client";
import type { Envelope } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { classifyStatus, retryAfterMs } from "../http_status.ts";
import { defineSink, type Sink, type SinkContext } from "../../plugin.ts";
import { RetryableError } from "../../errors.ts";
import { createEncoder } from "./encode.ts";
import { type InfluxConfig, influxdbSchema } from "./schema.ts";
import { fetchClient, hasTls, tlsOptions } from "../../tls.ts";

/** A batch as line protocol, and gzipped when the sink sends gzip. */
interface PreparedWrite {
  body: string;
  gzipped?: Uint8Array;
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Maps an InfluxDB HTTP answer to the outbox's retry/reject classes. */
export function classifyResponse(status: number, body: string, retryAfter?: number): Error {
  return classifyStatus(status, body, { upstream: "InfluxDB", retryAfter });
}

/** InfluxDB sink: v1 `/write` over fetch (InfluxDB 1.x), or v2 through the official client. */
export class InfluxSink implements Sink {
  readonly #encode: (batch: Envelope[]) => string;
  #v2: WriteApi | null = null;
  #client: Deno.HttpClient | undefined;

  constructor(readonly config: InfluxConfig, readonly ctx: SinkContext) {
    this.#encode = createEncoder(config, { gatewayId: ctx.gatewayId, kindOf: ctx.kindOf });
  }

  #v1Url(path: string, params: Record<string, string | undefined>): string {
    const u = new URL(
      path,
      this.config.url.endsWith("/") ? this.config.url : this.config.url + "/",
    );
    for (const [k, v] of Object.entries(params)) if (v) u.searchParams.set(k, v);
    return u.toString();
  }

  #authHeaders(): Record<string, string> {
    const { username, password } = this.config;
    return username ? { Authorization: "Basic " + btoa(`${username}:${password ?? ""}`) } : {};
  }

  async connect(): Promise<void> {
    const c = this.config;
    if (c.api === "v2") {
      // The official client is loaded only for InfluxDB 2 (v1 is plain fetch).
      const { InfluxDB } = await import("@influxdata/influxdb-client");
      // The outbox owns retries and batching: the client's own are switched off.
      this.#v2 = new InfluxDB({
        url: c.url,
        token: c.token,
        timeout: c.timeout,
        transportOptions: hasTls(c) ? tlsOptions(c) : undefined,
      })
        .getWriteApi(c.org!, c.bucket!, "us", {
          maxRetries: 0,
          batchSize: c.batch_size + 1,
          flushInterval: 0,
          gzipThreshold: c.gzip ? 1000 : Number.MAX_SAFE_INTEGER,
          defaultTags: {},
        });
      return;
    }
    this.#client ??= fetchClient(c);
    if (c.create_database) {
      const q = `CREATE DATABASE "${c.database!.replace(/"/g, '\\"')}"`;
      const res = await this.#fetch(this.#v1Url("query", { q }), { method: "POST" });
      if (!res.ok) throw classifyResponse(res.status, await res.text());
      await res.body?.cancel();
    } else {
      // Reached at all? (Any answer will do: a proxy in front may know /write only.) An
      // unreachable server is then down with its error at start, before any record.
      await (await this.#fetch(this.#v1Url("ping", {}), { method: "GET" })).body?.cancel();
    }
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, {
        ...init,
        headers: { ...this.#authHeaders(), ...init.headers },
        signal: AbortSignal.timeout(this.config.timeout),
        client: this.#client,
      });
    } catch (e) {
      throw new RetryableError(`InfluxDB at ${this.config.url} unreachable: ${errorMessage(e)}`);
    }
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
    if (this.#v2 || !this.config.gzip) return { body };
    return { body, gzipped: await gzip(body) };
  }

  /** Sends what {@link prepare} made. */
  async send(prepared: unknown): Promise<void> {
    const write = prepared as PreparedWrite | null;
    if (!write) return;
    if (this.#v2) return await this.#writeV2(write.body);
    const c = this.config;
    const url = this.#v1Url("write", { db: c.database, rp: c.retention_policy, precision: "u" });
    const headers: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8" };
    if (write.gzipped) headers["Content-Encoding"] = "gzip";
    const res = await this.#fetch(url, {
      method: "POST",
      headers,
      body: (write.gzipped ?? write.body) as BodyInit,
    });
    const text = await res.text();
    if (res.status !== 204 && !res.ok) {
      throw classifyResponse(res.status, text, retryAfterMs(res.headers.get("Retry-After")));
    }
  }

  async #writeV2(body: string): Promise<void> {
    try {
      this.#v2!.writeRecords(body.split("\n"));
      await this.#v2!.flush();
    } catch (e) {
      const err = e as { statusCode?: number; body?: string; retryAfter?: () => number };
      if (typeof err.statusCode === "number") {
        throw classifyResponse(err.statusCode, err.body ?? errorMessage(e), err.retryAfter?.());
      }
      throw new RetryableError(`InfluxDB at ${this.config.url} unreachable: ${errorMessage(e)}`);
    }
  }

  async close(): Promise<void> {
    await this.#v2?.close().catch(() => {});
    this.#v2 = null;
    this.#client?.close();
    this.#client = undefined;
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
