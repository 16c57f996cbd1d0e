import { z } from "zod";
import type { Envelope } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { settleAnswer } from "../http_status.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { RetryableError } from "../../errors.ts";
import { fetchClient, refineFetchTls, tlsFields } from "../../tls.ts";

/** Config of the webhook sink: events (or anything) POSTed as JSON. */
export const webhookSchema = z.strictObject({
  type: z.literal("webhook"),
  ...deliveryFields,
  forward: deliveryFields.forward.default(["event"]),
  url: z.url(),
  /** Extra headers, e.g. `Authorization: Bearer ${WEBHOOK_TOKEN}`. */
  headers: z.record(z.string(), z.string()).default({}),
  /** One request per record (`each`) or one JSON array per batch (`batch`). */
  mode: z.enum(["each", "batch"]).default("each"),
  /** TLS for `https://`: a private CA, a client certificate. */
  ...tlsFields,
}).superRefine(refineFetchTls);

/** Parsed webhook config. */
export type WebhookConfig = z.output<typeof webhookSchema>;

/** POSTs records as JSON; the outbox retries, splits and dead-letters by the answer. */
export class WebhookSink implements Sink {
  #client: Deno.HttpClient | undefined;

  constructor(readonly config: WebhookConfig, readonly ctx: SinkContext) {}

  connect(): Promise<void> {
    this.#client ??= fetchClient(this.config);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#client?.close();
    this.#client = undefined;
    return Promise.resolve();
  }

  async #post(body: unknown): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.config.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...this.config.headers },
        body: JSON.stringify(body),
        // Never followed: a 3xx is an error naming where it pointed (the headers carry secrets).
        redirect: "manual",
        signal: AbortSignal.timeout(this.config.timeout),
        client: this.#client,
      });
    } catch (e) {
      throw new RetryableError(`webhook ${this.config.url} unreachable: ${errorMessage(e)}`);
    }
    await settleAnswer(res, `webhook ${this.config.url}`);
  }

  async write(batch: Envelope[]): Promise<void> {
    // Events are posted flat (`{type, event_id, metric, ...}`), as receivers of alerts expect.
    const records = batch.map((e) =>
      e.kind === "event"
        ? { type: e.data.type, gateway: this.ctx.gatewayId, ...e.data.data }
        : { kind: e.kind, gateway: this.ctx.gatewayId, ...e.data }
    );
    if (this.config.mode === "batch") return await this.#post(records);
    for (const r of records) await this.#post(r);
  }
}

/** The `webhook` sink kind. */
export const webhookSink = defineSink({
  type: "webhook",
  schema: webhookSchema,
  create: (config, ctx) => new WebhookSink(config, ctx),
  // The JSON and the HTTP calls run in a Worker, off the ingest thread.
  worker: true,
});
