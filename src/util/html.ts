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

/** A coloured state badge (up/ok green, degraded amber, else red). */
export function badge(state: string): string {
  const cls = state === "up" || state === "ok" ? "ok" : state === "degraded" ? "warn" : "bad";
  return `<span class="badge ${cls}">${esc(state)}</span>`;
}

/** The sum of a record of counts. */
export function sum(o: Record<string, number>): number {
  return Object.values(o).reduce((a, b) => a + b, 0);
}

/** An inline SVG polyline of `values`, scaled to its own min..max. */
export function sparkline(
  values: number[],
  options: { width?: number; height?: number } = {},
): string {
  const w = options.width ?? 140;
  const h = options.height ?? 30;
  if (values.length < 2) return `<svg class="spark" width="${w}" height="${h}"></svg>`;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const pts = values.map((v, i) =>
    `${(i / (values.length - 1) * (w - 2) + 1).toFixed(1)},${
      (h - 1 - (v - min) / span * (h - 2)).toFixed(1)
    }`
  ).join(" ");
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img">` +
    `<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${pts}"/></svg>`;
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
