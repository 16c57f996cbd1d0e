/** The Hono app: status page, /health, /status, /metrics, ingest and operator endpoints. */
import { Hono } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { OutboxFullError } from "../outbox/outbox.ts";
import { ioReason } from "../outbox/errors.ts";
import { redact } from "../secrets.ts";
import { errorMessage } from "../status.ts";
import { requireReadToken } from "./auth.ts";
import { parseIngestBody, toSamples } from "./ingest.ts";
import { createMetrics } from "./metrics.ts";
import { renderFragment, renderPage } from "./page.ts";
import { addSeriesRoutes, collectSparks } from "./series.ts";
import { addSettingsRoutes } from "./settings.ts";
import type { GatewayView } from "./view.ts";

const HTML = "text/html; charset=UTF-8";

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Bearer token for mutating endpoints; without one they are refused. */
  token?: string;
  /** When set, every endpoint but /health needs it (or the mutating token, never in the address). */
  readToken?: string;
  maxBody: number;
  /** Valid ranges for /ingest values (clamped beyond). */
  ranges?: Record<string, [number, number]>;
  /** How far ahead of the clock an ingested sample's own time may be (ms). */
  maxFuture: number;
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

  // With http.read_token, every request but /health needs it, whatever its method (see auth.ts).
  if (options.readToken) {
    app.use("*", requireReadToken({ read: options.readToken, write: options.token }));
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
    return masked(
      c,
      renderPage(status, await collectSparks(view, status), {
        now: view.clock.now(),
        timeZone: view.timeZone,
      }),
      HTML,
    );
  });

  app.get("/fragment", async (c) => {
    const status = view.status();
    return masked(
      c,
      renderFragment(status, await collectSparks(view, status), {
        now: view.clock.now(),
        timeZone: view.timeZone,
      }),
      HTML,
    );
  });

  addSeriesRoutes(app, view, {
    html: (body, status) =>
      new Response(redact(body), { status, headers: { "Content-Type": HTML } }),
  });

  app.get("/metrics", async (c) => {
    const { body, type } = await metrics(view.status(), view.readings());
    return masked(c, body, type);
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

  addSettingsRoutes(app, view, { guard: requireToken as never, limit });

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
      // Full is a state that passes (a sink drains, space is freed): the client tries again. The
      // store's commit after the outbox's can be the one the full disk refuses.
      const reason = e instanceof OutboxFullError
        ? e.reason
        : ioReason(e) === "disk_full"
        ? "disk_full"
        : null;
      if (reason) {
        return c.json({ error: errorMessage(e), reason }, 503, { "Retry-After": "5" });
      }
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
