import { Hono } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { Sample } from "../model.ts";
import { OutboxFullError } from "../outbox/outbox.ts";
import type { SeriesQuery } from "../store/store.ts";
import { errorMessage } from "../status.ts";
import { parseIngestBody, toSamples } from "./ingest.ts";

/** What the HTTP API reads from and asks of the running gateway. */
export interface GatewayView {
  health(): { status: "ok" | "degraded" | "down"; components: Record<string, string> };
  status(): Record<string, unknown>;
  query(query: SeriesQuery): Promise<unknown[]>;
  sync(): Promise<Record<string, { sent: number; error?: string }>>;
  /** Hands samples to the pipeline; resolves once they are durably accepted. */
  ingest(samples: Sample[]): Promise<void>;
}

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Bearer token for mutating endpoints; without one they are refused. */
  token?: string;
  maxBody: number;
}

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
  node: z.string().min(1, "node is required"),
  device: z.string().optional(),
  from: timeParam,
  to: timeParam,
  window: z.string().optional(),
});

/** Builds the Hono app: /health, /status, /query and the token-protected operator endpoints. */
export function createApp(view: GatewayView, options: AppOptions): Hono {
  const app = new Hono();

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

  app.get("/status", (c) => c.json(view.status()));

  app.get("/query", async (c) => {
    const parsed = querySchema.safeParse(c.req.query());
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`);
      return c.json({ error: "invalid query", details: errors }, 400);
    }
    const q = parsed.data;
    const now = Date.now();
    const from = q.from ? parseTime(q.from, now) : now - 3_600_000;
    const to = q.to ? parseTime(q.to, now) : now + 1000;
    if (from === null || to === null) {
      return c.json({ error: "from/to: use epoch ms, ISO 8601 or a relative time like -1h" }, 400);
    }
    try {
      const node = q.node ?? q.device;
      const points = await view.query({ node, from, to, level: q.window });
      return c.json({ node, from, to, window: q.window ?? null, points });
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

  app.post("/ingest", requireToken as never, limit, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "body is not valid JSON" }, 400);
    }
    const parsed = parseIngestBody(body);
    if (!parsed.success) {
      const details = parsed.error.issues.map((i) =>
        `${i.path.map(String).join(".") || "(body)"}: ${i.message}`
      );
      return c.json({ error: "invalid samples", details }, 400);
    }
    const samples = toSamples(parsed.data, { source: "http", now: Date.now() });
    try {
      await view.ingest(samples);
    } catch (e) {
      if (e instanceof OutboxFullError) return c.json({ error: e.message, reason: e.reason }, 503);
      throw e;
    }
    return c.json({ accepted: samples.length });
  });

  return app;
}
