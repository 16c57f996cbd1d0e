/**
 * The routes that read stored series: `/query` (raw samples or windows) and
 * the device view `/device/<node>`, and the last hour each card's sparklines
 * draw. A node the gateway does not know is a 404 that names the known ones.
 */
import type { Hono } from "hono";
import { z } from "zod";
import { parseDuration } from "../config_values.ts";
import type { Window } from "../model.ts";
import { sourcePlugin } from "../sources/registry.ts";
import type { StatusJson } from "../status_report.ts";
import { errorMessage } from "../status.ts";
import { QUERY_LIMIT, type SeriesPoint } from "../store/store.ts";
import { esc, type TimePoint } from "../util/html.ts";
import type { GatewayView } from "./view.ts";
import { dayLevel, renderDevice } from "./device.ts";
import { PAGE_STYLE, type Sparks } from "./page.ts";

/** Window starts one window query may span. */
const MAX_WINDOWS = 20_000;

/** Known nodes a 404 lists at most. */
const KNOWN_LISTED = 50;

const HOUR = 3_600_000;
const RELATIVE = /^-(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: HOUR, d: 86_400_000 };

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
  /** A charger's daily history instead of samples: the last N days (VE.Direct HEX). */
  days: z.coerce.number().int().min(1).max(30).optional(),
  /** Points or windows at most (a query never walks an unbounded range). */
  limit: z.coerce.number().int().min(1).max(QUERY_LIMIT).default(1000),
});

/** What a 404 for an unknown node says: the first known nodes, and how many more there are. */
export interface UnknownNode {
  error: string;
  known: string[];
  more: number;
}

/** Null when `node` is known (or the store cannot say); otherwise what the 404 says. */
async function unknownNode(view: GatewayView, node: string): Promise<UnknownNode | null> {
  const known = await view.nodes().catch(() => null);
  if (!known || known.includes(node)) return null;
  return {
    error: `no node "${node}" on this gateway; known nodes are in "known"`,
    known: known.slice(0, KNOWN_LISTED),
    more: Math.max(0, known.length - KNOWN_LISTED),
  };
}

function unknownNodePage(node: string, u: UnknownNode): string {
  const links = u.known.map((n) => `<li><a href="${encodeURIComponent(n)}">${esc(n)}</a></li>`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>No node ${esc(node)}</title><style>${PAGE_STYLE}</style></head><body>
<h1>No node “${esc(node)}”</h1>
<p class="sub"><a href="../">status page</a></p>
${
    u.known.length
      ? `<p>Known nodes:</p><ul>${links.join("")}</ul>${u.more ? `<p>and ${u.more} more</p>` : ""}`
      : "<p>This gateway has no nodes yet.</p>"
  }
</body></html>`;
}

/** The last hour of the series each source's card draws, at most 120 points each. */
export async function collectSparks(view: GatewayView, status: StatusJson): Promise<Sparks> {
  const now = view.clock.now();
  const out: Sparks = {};
  for (const [name, c] of Object.entries(status.sources)) {
    const wanted = sourcePlugin(c.kind)?.card?.sparks?.(c);
    if (!wanted) continue;
    const points = await view.query({
      node: wanted.node,
      from: now - HOUR,
      to: now + 1000,
      limit: 3600,
    })
      .catch(() => []) as SeriesPoint[];
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

/** Adds `/query` and `/device/:node`; `html` sends a page masked as every page is. */
export function addSeriesRoutes(
  app: Hono,
  view: GatewayView,
  options: { html: (body: string, status: 200 | 404) => Response },
): void {
  app.get("/device/:node", async (c) => {
    const node = c.req.param("node");
    const status = view.status();
    const now = view.clock.now();
    const level = dayLevel(status.store.levels ?? []);
    const windows = level
      ? await view.query({ node, from: now - 86_400_000, to: now, level, limit: 2000 })
        .catch(() => []) as Window[]
      : [];
    // Until the first window closes, the raw samples of the last hour stand in for them.
    const raw = windows.length === 0
      ? await view.query({ node, from: now - HOUR, to: now + 1000, limit: 3600 })
        .catch(() => []) as SeriesPoint[]
      : [];
    if (windows.length === 0 && raw.length === 0) {
      const unknown = await unknownNode(view, node);
      if (unknown) return options.html(unknownNodePage(node, unknown), 404);
    }
    // The card of the node's source says which quantities matter and how they are named.
    const source = Object.values(status.sources).find((s) => s.node === node);
    const card = sourcePlugin(source?.kind)?.card;
    const html = renderDevice(node, windows.sort((a, b) => a.start - b.start), {
      now,
      level,
      raw,
      fields: source ? card?.sparks?.(source)?.fields : undefined,
      units: source?.device?.units,
      names: card?.fieldName,
      details: source ? card?.details?.(source) : undefined,
      timeZone: view.timeZone,
    });
    return options.html(html, 200);
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
    if (q.days) {
      const source = Object.values(view.status().sources).find((s) => s.node === node);
      const days = Array.isArray(source?.days) ? source.days : null;
      if (!days) {
        return c.json({
          error: `node "${node}" has no daily history (VE.Direct chargers that answer HEX do)`,
        }, 404);
      }
      return c.json({ node, days: days.slice(-q.days) });
    }
    const from = q.from ? parseTime(q.from, now) : now - (q.range ? parseDuration(q.range) : HOUR);
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
      if (points.length === 0) {
        const unknown = await unknownNode(view, node);
        if (unknown) return c.json(unknown, 404);
      }
      // One more than asked for says whether the range holds more: ask again from the last one.
      const truncated = points.length > q.limit;
      if (truncated) points.length = q.limit;
      return c.json({ node, from, to, window: q.window ?? null, points, truncated });
    } catch (e) {
      return c.json({ error: errorMessage(e) }, 400);
    }
  });
}
