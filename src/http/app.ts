import { Hono } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { Sample, Window } from "../model.ts";
import { OutboxFullError } from "../outbox/outbox.ts";
import type { DeadLetter } from "../outbox/dead_letters.ts";
import { QUERY_LIMIT, type SeriesQuery } from "../store/store.ts";
import { errorMessage } from "../status.ts";
import { redact } from "../secrets.ts";

const HTML = "text/html; charset=UTF-8";
import { parseDuration } from "../config/types.ts";
import { parseIngestBody, toSamples } from "./ingest.ts";
import { createMetrics } from "./metrics.ts";
import { dayLevel, renderDevice } from "./device.ts";
import type { TimePoint } from "../util/html.ts";
import { renderFragment, renderPage, type Sparks } from "./page.ts";
import { SOURCE_PLUGINS } from "../sources/registry.ts";
import type { Health, StatusJson } from "../status_report.ts";
import type { Clock } from "../util/clock.ts";

/** What the HTTP API reads from and asks of the running gateway. */
export interface GatewayView {
  /** The gateway's time. */
  readonly clock: Clock;
  /** An arrival stamp for a sample of `node`, unique within its series. */
  stamp(node: string): number;
  health(): Health;
  status(): StatusJson;
  /** Each node's latest sample and its source's kind (for /metrics). */
  readings(): { sample: Sample; kind: string }[];
  query(query: SeriesQuery): Promise<unknown[]>;
  sync(): Promise<Record<string, { sent: number; error?: string }>>;
  /** Hands samples to the pipeline; resolves once they are durably accepted. */
  ingest(samples: Sample[], options?: { clamped?: number }): Promise<void>;
  /** Counts a refused /ingest body by reason. */
  ingestRejected(reason: string): void;
  /** Re-reads the config file and applies what changed; an invalid file changes nothing. */
  reload(): Promise<ReloadResult>;
  /** Pauses or resumes a sink; false when there is no such sink. */
  setSinkPaused(name: string, paused: boolean): boolean;
  /** Records upstreams refused, newest first. */
  deadLetters(options: { sink?: string; limit: number; data: boolean }): DeadLetter[];
  /** Delivers a sink's dead letters again; null when there is no such sink. */
  replayDeadLetters(
    sink: string,
  ): Promise<{ replayed: number; refused: number; error?: string } | null>;
  /** Deletes dead letters (of one sink, or all); returns how many. */
  purgeDeadLetters(sink?: string): number;
}

/** What a reload did. */
export interface ReloadResult {
  ok: boolean;
  errors?: string[];
  /** Sources and sinks started, stopped or restarted. */
  changed?: string[];
  /** Sections that only take effect after a restart. */
  restart_required?: string[];
}

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Bearer token for mutating endpoints; without one they are refused. */
  token?: string;
  /** When set, GET endpoints other than /health need it (or the mutating token). */
  readToken?: string;
  maxBody: number;
  /** Valid ranges for /ingest values (clamped beyond). */
  ranges?: Record<string, [number, number]>;
  /** How far ahead of the clock an ingested sample's own time may be (ms). */
  maxFuture: number;
}

/** Window starts one window query may span. */
const MAX_WINDOWS = 20_000;

const RELATIVE = /^-(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a time parameter: epoch ms, ISO 8601, or relative to now (`-1h`). */
export function parseTime(text: string, now: number): number | null {
  const rel = RELATIVE.exec(text);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]];
  if (/^\d+$/.test(text)) return Number(text);
  const t = Date.parse(text);
  return Number.isFinite(t) ? t : null;
}

const timeParam = z.string().optional();
const querySchema = z.strictObject({
  node: z.string().min(1, "node is required").optional(),
  device: z.string().optional(),
  /** hissrv's form: `channel` names the node, `range=1h` the span back from now. */
  channel: z.string().min(1).optional(),
  measurement: z.string().optional(),
  range: z.string().regex(/^\d+(ms|s|m|h|d)$/, "a duration like 1h").optional(),
  from: timeParam,
  to: timeParam,
  window: z.string().optional(),
  /** Points or windows at most (a query never walks an unbounded range). */
  limit: z.coerce.number().int().min(1).max(QUERY_LIMIT).default(1000),
});

/** The last hour of the series each source's card draws, at most 120 points each. */
async function collectSparks(view: GatewayView, status: StatusJson): Promise<Sparks> {
  const now = view.clock.now();
  const out: Sparks = {};
  for (const [name, c] of Object.entries(status.sources)) {
    const wanted = SOURCE_PLUGINS.find((p) => p.type === c.kind)?.card?.sparks?.(c);
    if (!wanted) continue;
    const points = await view.query({
      node: wanted.node,
      from: now - 3_600_000,
      to: now + 1000,
      limit: 3600,
    }).catch(() => []) as { ts: number; fields: Record<string, unknown> }[];
    const step = Math.max(1, Math.ceil(points.length / 120));
    out[name] = {};
    for (const f of wanted.fields) {
      const series: TimePoint[] = [];
      for (let i = 0; i < points.length; i += step) {
        const v = points[i].fields[f];
        if (typeof v === "number") series.push([points[i].ts, v]);
      }
      out[name][f] = series;
    }
  }
  return out;
}

/** Builds the Hono app: status page, /health, /status, /metrics, /query and operator endpoints. */
export function createApp(view: GatewayView, options: AppOptions): Hono {
  const app = new Hono();
  const metrics = createMetrics();

  const requireToken = options.token
    ? bearerAuth({
      token: options.token,
      noAuthenticationHeader: { message: { error: "missing bearer token" } },
      invalidAuthenticationHeader: { message: { error: "malformed Authorization header" } },
      invalidToken: { message: { error: "invalid bearer token" } },
    })
    : (c: { json: (b: unknown, s: 401) => Response }) =>
      c.json({ error: "mutating endpoints are disabled: set http.token in the config" }, 401);

  app.onError((err, c) => {
    if ("getResponse" in err && typeof err.getResponse === "function") {
      return err.getResponse() as Response;
    }
    return c.json({ error: errorMessage(err) }, 500);
  });

  app.get("/health", (c) => {
    const h = view.health();
    return c.json(h, h.status === "down" ? 503 : 200);
  });

  // With http.read_token, every other GET needs it: a bearer token, or `?token=` for a browser
  // (the page passes it on to its /fragment requests). The mutating token is accepted too.
  if (options.readToken) {
    const accepted = [options.readToken, options.token].filter((t): t is string => !!t);
    app.use("*", async (c, next) => {
      if (c.req.method !== "GET" || c.req.path === "/health") return await next();
      const given = c.req.header("Authorization")?.replace(/^Bearer\s+/i, "") ??
        c.req.query("token");
      if (given && accepted.includes(given)) return await next();
      return c.json({ error: "this gateway needs a read token (http.read_token)" }, 401);
    });
  }

  // What leaves the gateway is masked as a whole: secrets can hide in any figure or message.
  const masked = (
    c: { body(b: string, s: 200, h: Record<string, string>): Response },
    body: string,
    type: string,
  ) => c.body(redact(body), 200, { "Content-Type": type });

  app.get("/status", (c) => masked(c, JSON.stringify(view.status()), "application/json"));

  app.get("/", async (c) => {
    const status = view.status();
    return masked(c, renderPage(status, await collectSparks(view, status)), HTML);
  });

  app.get("/fragment", async (c) => {
    const status = view.status();
    return masked(c, renderFragment(status, await collectSparks(view, status)), HTML);
  });

  app.get("/device/:node", async (c) => {
    const node = c.req.param("node");
    const status = view.status();
    const now = view.clock.now();
    const level = dayLevel(status.store.levels ?? []);
    const windows = level
      ? await view.query({ node, from: now - 86_400_000, to: now, level, limit: 2000 })
        .catch(() => []) as Window[]
      : [];
    // The card of the node's source says which quantities matter and how they are named.
    const source = Object.values(status.sources).find((s) => s.node === node);
    const card = SOURCE_PLUGINS.find((p) => p.type === source?.kind)?.card;
    const html = renderDevice(node, windows.sort((a, b) => a.start - b.start), {
      now,
      level,
      fields: source ? card?.sparks?.(source)?.fields : undefined,
      units: source?.device?.units,
      names: card?.fieldName,
    });
    return masked(c, html, HTML);
  });

  app.get("/metrics", async (c) => {
    const { body, type } = await metrics(view.status(), view.readings());
    return masked(c, body, type);
  });

  app.get("/query", async (c) => {
    const parsed = querySchema.safeParse(c.req.query());
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`);
      return c.json({ error: "invalid query", details: errors }, 400);
    }
    const q = parsed.data;
    const now = view.clock.now();
    const node = q.node ?? q.device ?? q.channel;
    if (!node) return c.json({ error: "invalid query", details: ["node: node is required"] }, 400);
    const from = q.from
      ? parseTime(q.from, now)
      : now - (q.range ? parseDuration(q.range) : 3_600_000);
    const to = q.to ? parseTime(q.to, now) : now + 1000;
    if (from === null || to === null) {
      return c.json({ error: "from/to: use epoch ms, ISO 8601 or a relative time like -1h" }, 400);
    }
    if (q.window) {
      // A window query reads every window start of its span: the span is what is bounded.
      let level: number;
      try {
        level = parseDuration(q.window);
      } catch {
        return c.json({ error: `window: "${q.window}" is not a level like 1m or 5m` }, 400);
      }
      if ((to - from) / level > MAX_WINDOWS) {
        return c.json({
          error: `from/to: at most ${MAX_WINDOWS} windows of ${q.window} per query ` +
            `(${Math.round(MAX_WINDOWS * level / 86_400_000)} days); narrow the range`,
        }, 400);
      }
    }
    try {
      const points = await view.query({ node, from, to, level: q.window, limit: q.limit + 1 });
      // One more than asked for says whether the range holds more: ask again from the last one.
      const truncated = points.length > q.limit;
      if (truncated) points.length = q.limit;
      return c.json({ node, from, to, window: q.window ?? null, points, truncated });
    } catch (e) {
      return c.json({ error: errorMessage(e) }, 400);
    }
  });

  const limit = bodyLimit({
    maxSize: options.maxBody,
    onError: (c) => c.json({ error: `request body over ${options.maxBody} bytes` }, 413),
  });
  app.post(
    "/sync",
    requireToken as never,
    limit,
    async (c) => c.json({ sinks: await view.sync() }),
  );

  app.post("/reload", requireToken as never, limit, async (c) => {
    const result = await view.reload();
    return c.json(result, result.ok ? 200 : 400);
  });

  for (const [action, paused] of [["pause", true], ["resume", false]] as const) {
    app.post(`/sinks/:name/${action}`, requireToken as never, limit, (c) => {
      const name = c.req.param("name");
      if (!view.setSinkPaused(name, paused)) {
        return c.json({ error: `no sink named "${name}"` }, 404);
      }
      return c.json({ sink: name, paused });
    });
  }

  const deadLettersQuery = z.strictObject({
    sink: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    data: z.enum(["true", "false"]).default("false"),
  });
  // Dead letters hold data: reading them needs the token too.
  app.get("/dead-letters", requireToken as never, (c) => {
    const q = deadLettersQuery.safeParse(c.req.query());
    if (!q.success) {
      return c.json({
        error: "invalid query",
        details: q.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`),
      }, 400);
    }
    const { sink, limit, data } = q.data;
    return c.json({ dead_letters: view.deadLetters({ sink, limit, data: data === "true" }) });
  });

  app.post("/dead-letters/replay", requireToken as never, limit, async (c) => {
    const sink = c.req.query("sink");
    if (!sink) return c.json({ error: "sink: name the sink whose dead letters to replay" }, 400);
    const result = await view.replayDeadLetters(sink);
    if (!result) return c.json({ error: `no sink named "${sink}"` }, 404);
    return c.json({ sink, ...result });
  });

  app.post("/dead-letters/purge", requireToken as never, limit, (c) => {
    const sink = c.req.query("sink");
    return c.json({ sink: sink ?? null, purged: view.purgeDeadLetters(sink) });
  });

  app.post("/ingest", requireToken as never, limit, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      view.ingestRejected("invalid_json");
      return c.json({ error: "body is not valid JSON" }, 400);
    }
    const parsed = parseIngestBody(body, {
      ranges: options.ranges,
      now: view.clock.now(),
      maxFuture: options.maxFuture,
    });
    if (!parsed.success) {
      view.ingestRejected(parsed.reason);
      return c.json({ error: "invalid samples", details: parsed.errors }, 400);
    }
    const samples = toSamples(parsed.data.items, {
      source: "http",
      stamp: (node) => view.stamp(node),
    });
    try {
      await view.ingest(samples, { clamped: parsed.data.clamped });
    } catch (e) {
      if (e instanceof OutboxFullError) return c.json({ error: e.message, reason: e.reason }, 503);
      throw e;
    }
    return c.json(
      parsed.data.clamped
        ? { accepted: samples.length, clamped: parsed.data.clamped }
        : { accepted: samples.length },
    );
  });

  return app;
}
