/**
 * A device's last 24 hours from the stored windows: per quantity an SVG chart of
 * the window averages inside their min..max band, on a time axis with hour
 * ticks, gaps left open. Until the first window closes, the raw samples of the
 * last hour are drawn instead, with the time the first window is due.
 * Server-rendered, no script, no CDN.
 */
import { parseDuration } from "../config_values.ts";
import type { Stats, Window } from "../model.ts";
import type { SeriesPoint } from "../store/store.ts";
import { cadence, esc, runs, sparkSpan, type TimePoint, value } from "../util/html.ts";
import { localTime, zoneLabel, zoneOffset } from "../util/zone.ts";
import { CARRY_TOKEN, PAGE_STYLE } from "./page.ts";

const DAY = 86_400_000;
const W = 720;
const H = 170;
const PAD = { left: 72, right: 8, top: 12, bottom: 26 };

/** An axis label: four significant digits at most ("187", "14.0"). */
function short(v: number): string {
  return String(Number(v.toPrecision(4)));
}

/** The level to draw 24 h with: the finest with at most 500 windows a day, else the coarsest. */
export function dayLevel(levels: string[]): string | null {
  const sized = levels.map((l) => [l, parseDuration(l)] as const).sort((a, b) => a[1] - b[1]);
  return sized.find(([, ms]) => DAY / ms <= 500)?.[0] ?? sized.at(-1)?.[0] ?? null;
}

function chart(
  field: string,
  windows: { start: number; s: Band }[],
  options: {
    from: number;
    to: number;
    stepMs: number;
    unit?: string;
    name: string;
    /** Between two ticks of the time axis (ms). */
    tickMs: number;
    /** What the chart spans, for screen readers ("last 24 h"). */
    span: string;
    timeZone: string;
  },
): string {
  const { from, to } = options;
  const lo = Math.min(...windows.map((w) => w.s.min));
  const hi = Math.max(...windows.map((w) => w.s.max));
  const span = hi - lo || 1;
  const x = (t: number) => PAD.left + (t - from) / (to - from) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v - lo) / span * (H - PAD.top - PAD.bottom);
  const f1 = (n: number) => n.toFixed(1);
  // Windows further apart than one and a half steps: the device was silent there.
  const parts = runs(windows.map((w): TimePoint => [w.start, 0]), options.stepMs * 1.5);
  let i = 0;
  const shapes = parts.map((run) => {
    const ws = windows.slice(i, i += run.length);
    const mid = (w: { start: number }) => w.start + options.stepMs / 2;
    const band = ws.map((w) => `${f1(x(mid(w)))},${f1(y(w.s.max))}`).join(" ") + " " +
      ws.slice().reverse().map((w) => `${f1(x(mid(w)))},${f1(y(w.s.min))}`).join(" ");
    const avg = ws.map((w) => `${f1(x(mid(w)))},${f1(y(w.s.avg))}`).join(" ");
    return `<polygon class="band" points="${band}"/><polyline class="avg" points="${avg}"/>`;
  }).join("");
  const ticks: string[] = [];
  const tick = options.tickMs;
  // Ticks on the site's whole hours (03:00, 06:00 there), not UTC's: in a zone 5:30 off
  // UTC the labels read 03:00, never 08:30.
  const off = zoneOffset(from, options.timeZone);
  for (let t = Math.ceil((from + off) / tick) * tick - off; t <= to; t += tick) {
    ticks.push(
      `<line class="grid" x1="${f1(x(t))}" x2="${f1(x(t))}" y1="${PAD.top}" y2="${
        H - PAD.bottom
      }"/><text x="${f1(x(t))}" y="${H - 6}" text-anchor="middle">${
        localTime(t, options.timeZone)
      }</text>`,
    );
  }
  return `<figure data-field="${esc(field)}"><figcaption>${esc(options.name)}${
    options.unit ? ` (${esc(options.unit)})` : ""
  } · min ${value(lo)}, max ${value(hi)}</figcaption>
<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${
    esc(options.name)
  }, ${options.span}">
<line class="axis" x1="${PAD.left}" x2="${W - PAD.right}" y1="${H - PAD.bottom}" y2="${
    H - PAD.bottom
  }"/>${ticks.join("")}
<text x="${PAD.left - 4}" y="${f1(y(hi) + 4)}" text-anchor="end">${short(hi)}</text>${
    // A flat series: one label, not two on top of each other.
    short(lo) === short(hi)
      ? ""
      : `<text x="${PAD.left - 4}" y="${f1(y(lo))}" text-anchor="end">${short(lo)}</text>`}
${shapes}</svg></figure>`;
}

type Band = Pick<Stats, "min" | "max" | "avg">;

/** Each numeric field's points: windows' bands, or raw values as bands of no width. */
function bands(
  windows: Window[],
  raw: SeriesPoint[] | null,
): Map<string, { start: number; s: Band }[]> {
  const out = new Map<string, { start: number; s: Band }[]>();
  const add = (f: string, start: number, s: Band) => {
    let list = out.get(f);
    if (!list) out.set(f, list = []);
    list.push({ start, s });
  };
  if (raw) {
    for (const p of raw) {
      for (const [f, v] of Object.entries(p.fields)) {
        if (typeof v === "number") add(f, p.ts, { min: v, max: v, avg: v });
      }
    }
  } else for (const w of windows) for (const [f, s] of Object.entries(w.stats)) add(f, w.start, s);
  return out;
}

/** The device page: a chart per field that the windows (or, before any, raw samples) carry. */
export function renderDevice(
  node: string,
  windows: Window[],
  options: {
    now: number;
    level: string | null;
    /** The last hour's raw samples, drawn while there are no windows. */
    raw?: SeriesPoint[];
    fields?: string[];
    units?: Record<string, string>;
    names?: (field: string) => string;
    /** The source's own sections (a charger's yield bars, a settings form). */
    details?: string;
    /** The site's time zone for the axes (default UTC). */
    timeZone?: string;
  },
): string {
  const timeZone = options.timeZone ?? "UTC";
  const to = options.now;
  const levelMs = options.level ? parseDuration(options.level) : 60_000;
  const raw = windows.length === 0 && options.raw?.length ? options.raw : null;
  const series = bands(windows, raw);
  // Raw samples fill the width from the first (as the page's sparklines do) until an hour.
  const rawSpan = raw ? sparkSpan(raw.map((p): TimePoint => [p.ts, 0]), to) : null;
  const from = rawSpan ? rawSpan.from : to - DAY;
  const span = rawSpan ? rawSpan.label : "last 24 h";
  const stepMs = raw ? Math.max(1000, cadenceOf(raw)) : levelMs;
  const fields = (options.fields?.filter((f) => series.has(f)) ?? [...series.keys()].sort())
    .slice(0, 12);
  const charts = fields.map((f) => {
    return chart(f, series.get(f)!, {
      from,
      to,
      stepMs,
      unit: options.units?.[f],
      name: options.names?.(f) ?? f,
      tickMs: !raw ? 10_800_000 : to - from > 600_000 ? 600_000 : 60_000,
      span,
      timeZone,
    });
  }).join("");
  // The first window of the drawn level closes at the end of the window the first sample is in.
  const due = raw && options.level
    ? localTime(Math.floor(raw[0].ts / levelMs) * levelMs + levelMs, timeZone)
    : null;
  const legend = raw
    ? `raw samples until the first ${esc(options.level ?? "")} window${
      due ? `, due after ${due}` : ""
    }`
    : options.level
    ? `${esc(options.level)} windows: average line, min..max band`
    : "no windows";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(node)} · ${span}</title><style>${PAGE_STYLE}${CHART_STYLE}</style></head><body>
<h1>${esc(node)} · ${span}</h1>
<p class="sub"><a href="../">status page</a> · <span class="legend">${legend}</span> · times ${
    esc(zoneLabel(to, timeZone))
  }</p>
${options.details ? `${options.details}<h2>${span}</h2>` : ""}
${charts || "<p>No windows stored for this device in the last 24 hours yet.</p>"}
<script>${CARRY_TOKEN}
carryToken('a[href="../"]');</script>
</body></html>`;
}

/** The usual spacing of raw samples (ms). */
function cadenceOf(raw: SeriesPoint[]): number {
  return cadence(raw.map((p): TimePoint => [p.ts, 0]));
}

const CHART_STYLE = `
figure{margin:12px 0}figcaption{font-weight:500;margin-bottom:2px}
.chart{width:100%;height:auto;font-size:12px;fill:#888}
.chart line,.chart polyline{vector-effect:non-scaling-stroke}
.chart .axis{stroke:#888}.chart .grid{stroke:var(--line)}
.chart .band{fill:#2f81f7;opacity:.18;stroke:none}.chart .avg{fill:none;stroke:#2f81f7;stroke-width:1.5}
@media (max-width:600px){.chart{font-size:22px}}
`;
