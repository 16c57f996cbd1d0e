import { z } from "zod";
import { duration } from "../../config_values.ts";
import { type FieldValue, MAX_FIELDS, type Sample } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { globMatcher } from "../../util/glob.ts";
import { concatBytes } from "../../util/bytes.ts";
import {
  ANSWER_LIMIT,
  answerExcerpt,
  answerText,
  isRedirect,
  redirectMessage,
} from "../../util/http_answer.ts";
import { deadline } from "../../util/timing.ts";
import { MAX_FIELD_NAME, nameProblem } from "../../names.ts";
import { PollLoop } from "../poll_loop.ts";
import { defineSource, type SourceContext } from "../../plugin.ts";
import { fetchClient, refineFetchTls, tlsFields } from "../../tls.ts";

/** Config of the Data-Service polling source (IOT-GATEWAY polling service). */
export const dataserviceSchema = z.strictObject({
  type: z.literal("dataservice"),
  /** HTTP base URL of the polling service, e.g. http://127.0.0.1:8000 ... */
  url: z.url().default("http://localhost"),
  /** ... or its Unix socket (HTTP over the socket; url then only names the host). */
  socket: z.string().optional(),
  path: z.string().default("/deploy/api/io/polled-values"),
  interval: duration.default(1000),
  timeout: duration.default(5000),
  /** Pause after a failed poll. */
  error_pause: duration.default(5000),
  /** Only these devices / tag names (globs); all when empty. */
  devices: z.array(z.string()).default([]),
  tags: z.array(z.string()).default([]),
  /** TLS for an https:// url: a private CA, a client certificate. */
  ...tlsFields,
}).superRefine(refineFetchTls);

/** Parsed Data-Service source config. */
export type DataServiceConfig = z.output<typeof dataserviceSchema>;

const GOOD = new Set(["SUCCESS", "success", "ok", "OK"]);

/** `{device: {tag_id: {tag_name|name, value, status}}}` -> one sample per device, fields by tag name. */
export function pollToSamples(
  body: unknown,
  options: {
    source: string;
    /** The sample's timestamp (unique within the device's series). */
    stamp: (node: string) => number;
    device: (d: string) => boolean;
    tag: (t: string) => boolean;
  },
): { samples: Sample[]; skipped: number } {
  const samples: Sample[] = [];
  let skipped = 0;
  if (!body || typeof body !== "object") throw new Error("polled-values is not a JSON object");
  for (const [device, tags] of Object.entries(body as Record<string, unknown>)) {
    if (!options.device(device) || !tags || typeof tags !== "object") continue;
    if (nameProblem(device) !== null) {
      skipped++;
      continue;
    }
    const fields: Record<string, FieldValue> = {};
    for (const [id, raw] of Object.entries(tags as Record<string, Record<string, unknown>>)) {
      const name = String(raw?.tag_name ?? raw?.name ?? id);
      if (!options.tag(name)) continue;
      if (nameProblem(name, MAX_FIELD_NAME) !== null) {
        skipped++;
        continue;
      }
      const value = raw?.value;
      const ok = GOOD.has(String(raw?.status)) && value !== null && value !== undefined &&
        ["number", "string", "boolean"].includes(typeof value);
      if (!ok) {
        skipped++;
        continue;
      }
      fields[name] = value as FieldValue;
    }
    if (Object.keys(fields).length > MAX_FIELDS) {
      skipped += Object.keys(fields).length;
      continue;
    }
    if (Object.keys(fields).length > 0) {
      samples.push({ source: options.source, node: device, ts: options.stamp(device), fields });
    }
  }
  return { samples, skipped };
}

/** A poll's answer: its status, where a redirect pointed, its body (or an excerpt when failed). */
interface PollAnswer {
  status: number;
  location?: string | null;
  text: string;
}

/** A GET over fetch that follows no redirect; the body read within the bound (an excerpt if failed). */
async function getOverFetch(
  url: URL,
  options: { timeout: number; client?: Deno.HttpClient },
): Promise<PollAnswer> {
  const res = await fetch(url, {
    redirect: "manual",
    signal: AbortSignal.timeout(options.timeout),
    client: options.client,
  });
  const location = res.headers.get("Location");
  if (isRedirect(res.status)) await res.body?.cancel().catch(() => {});
  const text = isRedirect(res.status)
    ? ""
    : res.ok
    ? await answerText(res, { where: String(url) })
    : await answerExcerpt(res);
  return { status: res.status, location, text };
}

/**
 * GET over a Unix socket with an origin-form target (`GET /deploy/... HTTP/1.1`, as
 * `curl --unix-socket` sends): Deno's unix proxy client sends the absolute form, which
 * Python's http.server and uvicorn route to 404.
 */
async function getOverSocket(
  socketPath: string,
  path: string,
  timeoutMs: number,
): Promise<PollAnswer> {
  // node:http is loaded by the first poll over a socket: other gateways do not carry it.
  const http = (await import("node:http")).default;
  return await new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path,
        method: "GET",
        headers: { Accept: "application/json" },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Uint8Array[] = [];
        let size = 0;
        res.on("data", (chunk: Uint8Array) => {
          size += chunk.length;
          // Answers beyond the bound are refused: a poll never grows memory without it.
          if (size > ANSWER_LIMIT) {
            req.destroy(new Error(`answer larger than ${ANSWER_LIMIT} bytes`));
          } else chunks.push(chunk);
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            location: res.headers.location,
            text: new TextDecoder().decode(concatBytes(chunks)),
          }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Polls the Data-Service's polled-values endpoint and emits one sample per device and cycle. */
export class DataServiceSource {
  readonly #loop: PollLoop;
  /** The fetch client with the configured CA and client certificate (none: fetch's own). */
  #client: Deno.HttpClient | undefined;

  constructor(readonly config: DataServiceConfig, readonly ctx: SourceContext) {
    this.#loop = new PollLoop(ctx.clock);
  }

  start(): Promise<void> {
    this.#client = this.config.socket ? undefined : fetchClient(this.config);
    const device = globMatcher(this.config.devices);
    const tag = globMatcher(this.config.tags);
    this.#loop.start(() => this.#cycle(device, tag));
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
    this.#client?.close();
    this.ctx.status.state = "stopped";
  }

  async #poll(): Promise<unknown> {
    const url = new URL(this.config.path, this.config.url);
    const where = this.config.socket
      ? `${url.pathname}${url.search} on ${this.config.socket}`
      : url;
    const { status, location, text } = await deadline(
      this.config.socket
        ? getOverSocket(this.config.socket, `${url.pathname}${url.search}`, this.config.timeout)
        : getOverFetch(url, { timeout: this.config.timeout, client: this.#client }),
      this.config.timeout + 100,
      `poll of ${where}`,
    );
    if (isRedirect(status)) throw new Error(redirectMessage(`${where}`, { status, location }));
    if (status < 200 || status > 299) {
      throw new Error(`${where} answered ${status}: ${text.slice(0, 200)}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`${where} did not answer JSON: ${text.slice(0, 80)}`);
    }
  }

  /** One poll; returns the pause before the next (longer after an error). */
  async #cycle(device: (d: string) => boolean, tag: (t: string) => boolean): Promise<number> {
    const { status, log } = this.ctx;
    try {
      const body = await this.#poll();
      const { samples, skipped } = pollToSamples(body, {
        source: this.ctx.name,
        stamp: (node) => this.ctx.stamp(node),
        device,
        tag,
      });
      if (samples.length > 0) await this.ctx.emit(samples);
      status.ok(samples.length);
      status.count("cycles");
      status.count("skipped_tags", skipped);
      status.info.last_sync = new Date(this.ctx.clock.now()).toISOString();
      status.state = "up";
      return this.config.interval;
    } catch (e) {
      status.fail(e);
      status.count("failed_cycles");
      status.state = "degraded";
      log.warn("Data-Service poll failed; pausing", {
        at: this.config.socket ?? this.config.url,
        error: errorMessage(e),
      });
      return this.config.error_pause;
    }
  }
}

/** The `dataservice` source kind. */
export const dataserviceSource = defineSource({
  type: "dataservice",
  schema: dataserviceSchema,
  create: (config, ctx) => new DataServiceSource(config, ctx),
});
