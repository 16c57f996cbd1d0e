/**
 * S3 / MinIO sink: puts the file policy's objects under their deterministic
 * keys (a replay overwrites the same object) and deletes TimeWindow objects
 * once they expire (S3 servers without lifecycle rules, like MinIO by default).
 */
import type { Client as MinioClient } from "minio";
import { Buffer } from "node:buffer";
import { z } from "zod";
import { duration } from "../../config_values.ts";
import type { Envelope } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { RejectedError, RetryableError } from "../../errors.ts";
import { hasTls, tlsFields, tlsOptions } from "../../tls.ts";
import { settledNow } from "../../util/wall_clock.ts";
import { type BoundedAgent, createHttpAgent } from "../http_agent.ts";

/** Config of the S3 / MinIO sink. */
export const s3Schema = z.strictObject({
  type: z.literal("s3"),
  ...deliveryFields,
  forward: deliveryFields.forward.default(["file"]),
  batch_size: z.number().int().min(1).max(1000).default(50),
  /** `http://127.0.0.1:9000`; https for TLS. */
  url: z.url(),
  bucket: z.string().min(3).max(63),
  region: z.string().default("us-east-1"),
  access_key: z.string().min(1),
  secret_key: z.string().min(1),
  create_bucket: z.boolean().default(true),
  /** How often expired TimeWindow objects are deleted. */
  sweep_every: duration.default(60_000),
  /** TLS for `https://`: a private CA, a client certificate. */
  ...tlsFields,
});

/** Parsed S3 sink config. */
export type S3Config = z.output<typeof s3Schema>;

/** Expiry (ms) in the key of a TimeWindow object: `<node>/window/<expires>-<ts>.<ext>`. */
const WINDOW_KEY = /\/window\/(\d+)-(\d+)[^/]*$/;

/** `refusal`: why the agent ended the answer (too large, a redirect), which is then retried. */
function classify(e: unknown, where: string, refusal: string | null): Error {
  if (refusal) return new RetryableError(`S3 ${where}: ${refusal}`);
  const code = (e as { code?: string }).code ?? "";
  const msg = `S3 ${where}: ${code ? code + ": " : ""}${errorMessage(e).slice(0, 300)}`;
  // Refusals of the object itself; credentials, missing buckets and network errors are retried.
  return ["EntityTooLarge", "InvalidArgument", "KeyTooLongError", "InvalidObjectName"].includes(
      code,
    )
    ? new RejectedError(msg)
    : new RetryableError(msg);
}

/** Puts objects into a bucket and sweeps expired ones. */
export class S3Sink implements Sink {
  #client!: MinioClient;
  #agent: BoundedAgent | null = null;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #sweeping: Promise<void> | null = null;

  constructor(readonly config: S3Config, readonly ctx: SinkContext) {}

  async connect(): Promise<void> {
    const c = this.config;
    if (!this.#client) {
      // Loaded when an S3 sink is configured: ~30 MB of memory a gateway without one does not carry.
      const Minio = await import("minio");
      const u = new URL(c.url);
      // An agent of our own bounds every answer, refuses redirects, and carries the TLS settings.
      this.#agent = await createHttpAgent(c.url, {
        where: "the server",
        tls: hasTls(c) ? tlsOptions(c) : undefined,
      });
      this.#client = new Minio.Client({
        endPoint: u.hostname,
        port: u.port ? Number(u.port) : undefined,
        useSSL: u.protocol === "https:",
        accessKey: c.access_key,
        secretKey: c.secret_key,
        region: c.region,
        pathStyle: true,
        transportAgent: this.#agent.agent,
      });
    }
    try {
      if (c.create_bucket && !(await this.#client.bucketExists(c.bucket))) {
        await this.#client.makeBucket(c.bucket, c.region);
      }
    } catch (e) {
      throw classify(e, `bucket ${c.bucket} at ${c.url}`, this.#refusal());
    }
    this.#sweeper ??= setInterval(() => void this.sweep(), c.sweep_every);
  }

  async write(batch: Envelope[]): Promise<void> {
    for (const e of batch) {
      if (e.kind !== "file") continue;
      const f = e.data;
      const body = Buffer.from(f.body, "base64");
      try {
        await this.#client.putObject(this.config.bucket, f.key, body, body.length, {
          "Content-Type": f.content_type,
          "X-Amz-Meta-Node": f.node,
          "X-Amz-Meta-Created": new Date(f.ts).toISOString(),
        });
      } catch (err) {
        const error = classify(err, `put ${this.config.bucket}/${f.key}`, this.#refusal());
        // Gone since connect (or an upstream that only said it was there): made again, and the
        // batch retried.
        if ((err as { code?: string }).code === "NoSuchBucket" && this.config.create_bucket) {
          await this.#client.makeBucket(this.config.bucket, this.config.region).catch(() => {});
        }
        throw error;
      }
    }
  }

  /**
   * Deletes TimeWindow objects whose expiry (in their key) has passed: by `now` when given,
   * else by the clock without its recent forward steps (a step of days expires nothing early).
   */
  sweep(now?: number): Promise<void> {
    return this.#sweeping ??= this.#sweep(now).finally(() => this.#sweeping = null);
  }

  async #sweep(now?: number): Promise<void> {
    try {
      const expired: string[] = [];
      const stream = this.#client.listObjectsV2(this.config.bucket, "", true);
      for await (const o of stream as AsyncIterable<{ name?: string }>) {
        const m = o.name ? WINDOW_KEY.exec(o.name) : null;
        if (!m) continue;
        const [expires, ts] = [Number(m[1]), Number(m[2])];
        if (expires < (now ?? settledNow(this.ctx.clock, expires - ts))) expired.push(o.name!);
      }
      if (expired.length === 0) return;
      await this.#client.removeObjects(this.config.bucket, expired);
      this.ctx.status.count("expired_objects", expired.length);
    } catch (e) {
      this.ctx.log.warn("sweep of expired objects failed; will retry", {
        bucket: this.config.bucket,
        error: this.#refusal() ?? errorMessage(e),
      });
    }
  }

  #refusal(): string | null {
    return this.#agent?.refusal() ?? null;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    await this.#sweeping;
    // Its idle sockets; the agent makes new ones if the sink connects again.
    this.#agent?.agent.destroy();
  }
}

/** The `s3` sink kind (MinIO, S3 and compatible servers). */
export const s3Sink = defineSink({
  type: "s3",
  schema: s3Schema,
  create: (config, ctx) => new S3Sink(config, ctx),
});
