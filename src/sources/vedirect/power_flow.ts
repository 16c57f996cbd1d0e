/**
 * The power flow at the top of the status page: PV -> chargers -> battery <->
 * DC loads, with live watts on every edge, from the VE.Direct devices' last
 * frames. Several chargers or monitors are summed per edge; a device whose
 * frames stopped is shown stale and left out of the sums, never counted as 0 W.
 */
import type { ComponentJson } from "../../status.ts";
import { age, esc } from "../../util/html.ts";

interface Device {
  name: string;
  values: Record<string, unknown>;
  stale: boolean;
  lastFrame: string;
}

const num = (v: unknown): number | null => typeof v === "number" && Number.isFinite(v) ? v : null;

function watts(w: number | null): string {
  if (w === null) return "–";
  return Math.abs(w) >= 1000 ? `${(w / 1000).toFixed(2)} kW` : `${Math.round(w)} W`;
}

function direction(w: number | null): string {
  if (w === null) return "–";
  return w >= 0 ? `+${watts(w)}` : `−${watts(-w)}`;
}

/** A monitor's time to go (TTG, minutes; -1 while charging) as the card and the flow say it. */
export function timeToGo(minutes: number | null): string {
  if (minutes === null) return "";
  if (minutes < 0) return "∞";
  const m = Math.round(minutes);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** The figures the picture shows (null: no fresh device measures it). */
export interface PowerFlow {
  pv: number | null;
  /** Into the battery from the chargers (negative: the chargers' output draws from it). */
  charging: number | null;
  /** Into the battery as a whole (monitor), positive charging. */
  battery: number | null;
  loads: number | null;
  /** How `loads` was found, said on the page. */
  loadsFrom: string;
  soc: number | null;
  volts: number | null;
  state: string;
  ttg: number | null;
  chargers: Device[];
  monitors: Device[];
}

/** Sums the VE.Direct devices' last frames into the flow's figures. */
export function powerFlow(sources: [string, ComponentJson][], _now?: number): PowerFlow {
  // Stale is the source's judgement (freshness.ts), the same /status, /health and the sinks read.
  const devices = sources.map(([name, c]): Device => ({
    name,
    values: c.device?.values ?? {},
    stale: c.state !== "up" || c.stale === true,
    lastFrame: c.last_record_at ?? "",
  }));
  const chargers = devices.filter((d) => "PPV" in d.values);
  const monitors = devices.filter((d) => !("PPV" in d.values) && "SOC" in d.values);
  const fresh = (list: Device[]) => list.filter((d) => !d.stale);
  const total = (list: Device[], f: (v: Record<string, unknown>) => number | null) => {
    const vs = fresh(list).map((d) => f(d.values)).filter((v): v is number => v !== null);
    return vs.length ? vs.reduce((a, b) => a + b, 0) : null;
  };
  const vi = (v: Record<string, unknown>, i: string) => {
    const volts = num(v.V);
    const amps = num(v[i]);
    return volts !== null && amps !== null ? volts * amps : null;
  };
  const pv = total(chargers, (v) => num(v.PPV));
  const charging = total(chargers, (v) => vi(v, "I"));
  const loadOutputs = total(chargers, (v) => vi(v, "IL")) ?? 0;
  const battery = total(monitors, (v) => num(v.P) ?? vi(v, "I"));
  let loads: number | null = null;
  let loadsFrom = "";
  if (charging !== null && battery !== null) {
    loads = charging - battery + loadOutputs;
    loadsFrom = "DC loads = chargers' output − the battery monitor's (+ chargers' load outputs)";
  } else if (battery !== null) {
    loads = Math.max(0, -battery);
    loadsFrom = "DC loads: the battery monitor's discharge (no charger seen)";
  } else if (charging !== null) {
    loads = loadOutputs;
    loadsFrom = "DC loads: the chargers' load outputs only (no battery monitor seen)";
  }
  const first = (list: Device[], label: string) =>
    fresh(list).map((d) => num(d.values[label])).find((v) => v !== null) ?? null;
  const words = [...new Set(fresh(chargers).map((d) => d.values.CS_text).filter(Boolean))];
  return {
    pv,
    charging,
    battery,
    loads,
    loadsFrom,
    soc: first(monitors, "SOC"),
    volts: first(monitors, "V") ?? first(chargers, "V"),
    state: words.join(", "),
    ttg: first(monitors, "TTG"),
    chargers,
    monitors,
  };
}

/** An edge: a line whose width follows the power and whose arrow follows its direction. */
function edge(
  id: string,
  from: [number, number],
  to: [number, number],
  w: number | null,
  scale: number,
): string {
  const forward = (w ?? 0) >= 0;
  const [a, b] = forward ? [from, to] : [to, from];
  const width = w === null ? 1.5 : 2 + 8 * Math.min(1, Math.abs(w) / scale);
  const cls = w === null ? "edge stale" : Math.abs(w) < 1 ? "edge idle" : "edge";
  const mx = (from[0] + to[0]) / 2;
  const my = (from[1] + to[1]) / 2;
  const vertical = from[0] === to[0];
  return `<line class="${cls}" x1="${a[0]}" y1="${a[1]}" x2="${b[0]}" y2="${b[1]}" stroke-width="${
    width.toFixed(1)
  }" marker-end="url(#arrow)"/><text class="watts" data-flow="${id}" data-watts="${
    w === null ? "" : Math.round(w)
  }" x="${vertical ? mx + 12 : mx}" y="${vertical ? my + 4 : my - 12}" text-anchor="${
    vertical ? "start" : "middle"
  }">${watts(w === null ? null : Math.abs(w))}</text>`;
}

function box(x: number, y: number, title: string, lines: string[], stale: boolean): string {
  const text = lines.map((l, i) =>
    `<text x="${x + 70}" y="${y + 44 + i * 17}" text-anchor="middle">${l}</text>`
  ).join("");
  return `<g class="${stale ? "node stale" : "node"}"><rect x="${x}" y="${y}" width="140" height="${
    26 + 17 * Math.max(1, lines.length) + 8
  }" rx="8"/><text class="title" x="${x + 70}" y="${y + 20}" text-anchor="middle">${
    esc(title)
  }</text>${text}</g>`;
}

function breakdown(f: PowerFlow, now: number): string {
  const row = (d: Device, what: string) =>
    `<tr data-device="${esc(d.name)}"><th>${esc(d.name)}</th><td>${what}</td><td>${
      d.stale ? `stale, last frame ${age(d.lastFrame || null, now)}` : "live"
    }</td></tr>`;
  const rows = [
    ...f.chargers.map((d) => {
      const p = num(d.values.PPV);
      const v = num(d.values.V);
      const i = num(d.values.I);
      return row(d, `PV ${watts(p)} · battery ${watts(v !== null && i !== null ? v * i : null)}`);
    }),
    ...f.monitors.map((d) => {
      const soc = num(d.values.SOC);
      return row(d, `battery ${watts(num(d.values.P))} · SOC ${soc === null ? "–" : `${soc} %`}`);
    }),
  ];
  return `<details><summary>Per device</summary><table class="values">${
    rows.join("")
  }</table></details>`;
}

/** The power-flow picture for the VE.Direct sources; "" without chargers or monitors. */
export function renderPowerFlow(sources: [string, ComponentJson][], now: number): string {
  const f = powerFlow(sources, now);
  if (f.chargers.length === 0 && f.monitors.length === 0) return "";
  const staleAll = (list: Device[]) => list.length > 0 && list.every((d) => d.stale);
  const scale = Math.max(100, ...[f.pv, f.charging, f.loads].map((w) => Math.abs(w ?? 0)));
  const soc = f.soc === null ? "" : `${f.soc.toFixed(1)} %`;
  const chargerLines = f.chargers.length
    ? [`${f.chargers.length} charger${f.chargers.length > 1 ? "s" : ""}`, esc(f.state || "–")]
    : ["none seen"];
  const battery = [
    `<tspan class="soc" data-flow="soc">${soc || "–"}</tspan>`,
    `${f.volts === null ? "–" : f.volts.toFixed(2)} V · ${direction(f.battery ?? f.charging)}`,
    // Short enough for the 140-unit box: "49 h 28 min to go" (13 px glyphs).
    f.ttg === null ? "" : `${timeToGo(f.ttg)} to go`,
  ].filter(Boolean);
  const stale = [...f.chargers, ...f.monitors].filter((d) => d.stale).map((d) => d.name);
  return `<section class="flow" data-source="power-flow"><h2>Power flow</h2>
<svg class="flowchart" viewBox="0 0 360 250" role="img" aria-label="Power flow: PV ${
    watts(f.pv)
  }, battery ${soc || "unknown"}, loads ${watts(f.loads)}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="14" markerHeight="14" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z"/></marker></defs>
${edge("pv", [150, 40], [210, 40], f.pv, scale)}
${edge("charging", [280, 92], [280, 150], f.charging, scale)}
${edge("loads", [210, 195], [150, 195], f.loads, scale)}
${box(10, 10, "PV", [watts(f.pv)], staleAll(f.chargers))}
${box(210, 10, "Chargers", chargerLines, staleAll(f.chargers))}
${box(210, 150, "Battery", battery, staleAll(f.monitors))}
${box(10, 150, "DC loads", [watts(f.loads)], f.loads === null)}
</svg>
<p class="sub">${esc(f.loadsFrom)}${
    stale.length
      ? ` · <span class="stale-list">stale (left out): ${esc(stale.join(", "))}</span>`
      : ""
  }</p>${breakdown(f, now)}</section>`;
}

/** Styles of the picture (light and dark). */
export const POWER_FLOW_STYLE = `
.flowchart{width:100%;max-width:520px;height:auto;display:block;font-size:13px}
.flowchart .node rect{fill:none;stroke:#888}.flowchart .node .title{font-weight:600}
.flowchart text{fill:currentColor}.flowchart .node.stale{opacity:.45}.flowchart .node.stale rect{stroke-dasharray:4 3}
.flowchart .edge{stroke:#e3a21a}.flowchart .edge.idle{stroke:#888}.flowchart .edge.stale{stroke:#888;stroke-dasharray:3 3}
.flowchart marker path{fill:#e3a21a}.flowchart .watts{font-weight:600;font-variant-numeric:tabular-nums}
.flowchart .soc{font-size:1.25em;font-weight:700}.stale-list{color:var(--warn)}
`;
