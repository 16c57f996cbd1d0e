/** Small pieces of server-rendered HTML shared by the status page and the plugins' cards. */

/** Text escaped for HTML. */
export function esc(v: unknown): string {
  return String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** How long ago an ISO time was, in words ("12 s ago"). */
export function age(iso: string | null | undefined, now: number): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120
    ? `${s} s ago`
    : s < 7200
    ? `${Math.round(s / 60)} min ago`
    : `${Math.round(s / 3600)} h ago`;
}

/** A byte count in B, KiB or MiB. */
export function bytes(n: number): string {
  return n < 1024
    ? `${n} B`
    : n < 1024 ** 2
    ? `${(n / 1024).toFixed(1)} KiB`
    : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/** A coloured state badge (up/ok green, degraded or stale amber, else red). */
export function badge(state: string): string {
  const cls = state === "up" || state === "ok"
    ? "ok"
    : state === "degraded" || state === "stale"
    ? "warn"
    : "bad";
  return `<span class="badge ${cls}">${esc(state)}</span>`;
}

/** The sum of a record of counts. */
export function sum(o: Record<string, number>): number {
  return Object.values(o).reduce((a, b) => a + b, 0);
}

/** Points of a time series: [ms, value]. */
export type TimePoint = [number, number];

/** Splits a series where consecutive points are further apart than `maxGap` ms. */
export function runs(points: TimePoint[], maxGap: number): TimePoint[][] {
  const out: TimePoint[][] = [];
  let run: TimePoint[] = [];
  for (const p of points) {
    if (run.length && p[0] - run[run.length - 1][0] > maxGap) {
      out.push(run);
      run = [];
    }
    run.push(p);
  }
  if (run.length) out.push(run);
  return out;
}

/** Typical spacing of a series' points (the median gap), for telling gaps from cadence. */
export function cadence(points: TimePoint[]): number {
  const gaps = points.slice(1).map((p, i) => p[0] - points[i][0]).sort((a, b) => a - b);
  return gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0;
}

/**
 * The span of a last-hour sparkline: the hour, or, while the series is younger, from its
 * first point (a minute at least), so the first points fill the width as they come.
 */
export function sparkSpan(points: TimePoint[], now: number): { from: number; label: string } {
  const first = points[0]?.[0];
  if (first === undefined || first <= now - 3_600_000) {
    return { from: now - 3_600_000, label: "last hour" };
  }
  const minutes = Math.max(1, Math.ceil((now - first) / 60_000));
  return {
    from: now - minutes * 60_000,
    label: minutes === 1 ? "last minute" : `last ${minutes} min`,
  };
}

/**
 * An inline SVG sparkline on a time axis from `from` to `to`: silences longer than
 * three times the usual spacing are drawn as gaps, the lowest and highest points marked.
 */
export function sparkline(
  points: TimePoint[],
  options: { from: number; to: number; width?: number; height?: number },
): string {
  const w = options.width ?? 140;
  const h = options.height ?? 30;
  const empty = `<svg class="spark" width="${w}" height="${h}"></svg>`;
  if (points.length < 2) return empty;
  let lo = points[0], hi = points[0];
  for (const p of points) {
    if (p[1] < lo[1]) lo = p;
    if (p[1] > hi[1]) hi = p;
  }
  const span = hi[1] - lo[1] || 1;
  const x = (t: number) => ((t - options.from) / (options.to - options.from) * (w - 4) + 2);
  const y = (v: number) => (h - 3 - (v - lo[1]) / span * (h - 6));
  const at = (p: TimePoint) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`;
  const lines = runs(points, Math.max(3 * cadence(points), 5000)).map((run) =>
    run.length === 1
      ? `<circle cx="${x(run[0][0]).toFixed(1)}" cy="${y(run[0][1]).toFixed(1)}" r="1"/>`
      : `<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${
        run.map(at).join(" ")
      }"/>`
  ).join("");
  const mark = (p: TimePoint, cls: string) =>
    `<circle class="${cls}" cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="2.5"/>`;
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img">` +
    `<line x1="2" x2="${w - 2}" y1="${h - 1}" y2="${h - 1}" class="axis"/>` +
    lines + mark(lo, "lo") + mark(hi, "hi") + `</svg>`;
}

/** A field value as shown: numbers to 3 decimals, booleans as on/off. */
export function value(v: unknown): string {
  if (typeof v === "number") {
    // Up to 3 decimals: VE.Direct resolves mV/mA, so rounding to 2 would hide real changes.
    return String(Math.round(v * 1000) / 1000);
  }
  if (typeof v === "boolean") return v ? "on" : "off";
  return esc(v);
}
