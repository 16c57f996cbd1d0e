/**
 * The status page: server-rendered HTML, no build step, no CDN. The page
 * replaces its live part with /fragment every few seconds (no full reload).
 */
import { SOURCE_PLUGINS, sourcePlugin } from "../sources/registry.ts";
import type { ComponentJson, StatusJson } from "../status_report.ts";
import { age, badge, bytes, esc, sum, type TimePoint } from "../util/html.ts";
import { localTime, zoneLabel } from "../util/zone.ts";

/** Points of the sparklines per source: field -> [ms, value], oldest first. */
export type Sparks = Record<string, Record<string, TimePoint[]>>;

/** A source without a card of its own (POST /ingest): its state and figures. */
function plainSource(name: string, c: ComponentJson): string {
  return `<article class="card" data-source="${esc(name)}">
  <header><h3>${esc(name)}</h3>${badge(c.state)}</header>
  <p class="sub">${esc(c.kind)} · ${c.processed} taken · ${sum(c.dropped)} refused</p>
</article>`;
}

function source(name: string, c: ComponentJson, sparks: Sparks, now: number): string {
  const card = sourcePlugin(c.kind)?.card;
  return card ? card.render(name, c, { sparks: sparks[name] ?? {}, now }) : plainSource(name, c);
}

function sinkRow(name: string, c: ComponentJson, now: number): string {
  const q = c.queue ?? { records: 0, bytes: 0, oldest_age_ms: null };
  const oldest = q.oldest_age_ms === null ? "-" : `${Math.round(q.oldest_age_ms / 1000)} s`;
  return `<tr data-sink="${esc(name)}"><th>${esc(name)}<br><small>${esc(c.kind)}</small></th>
  <td>${badge(c.paused ? "paused" : c.state)}</td><td class="num">${q.records}<br><small>${
    bytes(q.bytes)
  }, oldest ${oldest}</small></td>
  <td class="num">${c.processed}</td><td class="num">${
    c.counters.retried ?? 0
  }</td><td class="num">${sum(c.dropped)}</td>
  <td class="num">${c.counters.dead_lettered ?? 0}</td></tr>${
    c.last_error
      ? `<tr><td colspan="7" class="err">${esc(c.last_error.message)} <small>(${
        age(c.last_error.at, now)
      })</small></td></tr>`
      : ""
  }`;
}

/** The live part of the page (replaced every few seconds). */
export function renderFragment(
  s: StatusJson,
  sparks: Sparks,
  options: { now?: number; timeZone?: string } = {},
): string {
  const now = options.now ?? Date.now();
  const timeZone = options.timeZone ?? "UTC";
  const all: [string, ComponentJson][] = [
    ["store", s.store],
    ["outbox", s.outbox],
    ...Object.entries(s.sources),
    ...Object.entries(s.sinks),
  ];
  const errors = all.filter(([, c]) => c.last_error)
    .sort((a, b) => Date.parse(b[1].last_error!.at) - Date.parse(a[1].last_error!.at))
    .slice(0, 10)
    .map(([n, c]) =>
      `<li><b>${esc(n)}</b> ${esc(c.last_error!.message)} <small>${
        age(c.last_error!.at, now)
      }</small></li>`
    )
    .join("");
  const sources = Object.entries(s.sources).map(([n, c]) => source(n, c, sparks, now)).join("");
  const overviews = SOURCE_PLUGINS.map((p) => {
    const mine = Object.entries(s.sources).filter(([, c]) => c.kind === p.type);
    return mine.length && p.card?.overview ? p.card.overview(mine, now) : "";
  }).join("");
  const sinks = Object.entries(s.sinks).map(([n, c]) => sinkRow(n, c, now)).join("");
  const windows = Object.entries(s.store.counters).filter(([k]) => k.startsWith("windows_"))
    .map(([k, v]) => `${esc(k.slice(8))}: ${v}`).join(", ") || "none yet";
  return `<p class="sub">${badge(s.status)} up ${Math.round(s.uptime_s)} s · updated ${
    localTime(now, timeZone, { seconds: true })
  } ${esc(zoneLabel(now, timeZone))}</p>${overviews}
<section><h2>Devices</h2><div class="grid">${
    sources || "<p>No sources configured.</p>"
  }</div></section>
<section><h2>Upstream</h2>${
    sinks
      ? `<div class="scroll"><table class="sinks"><tr><th>sink</th><th>state</th><th class="num">queue</th><th class="num">sent</th><th class="num">retried</th><th class="num">dropped</th><th class="num">dead-lettered</th></tr>${sinks}</table></div>`
      : "<p>No sinks configured: data stays on this gateway.</p>"
  }</section>
<section><h2>Local store</h2><p>${esc(s.store.kind)} ${
    badge(s.store.state)
  } · ${s.store.processed} samples stored · windows ${windows}
 · outbox ${bytes(s.outbox.bytes)} of ${bytes(s.outbox.max_bytes)} ${badge(s.outbox.state)}${
    s.outbox.recovered ? ` · damaged buffer moved to ${esc(s.outbox.recovered.moved_to)}` : ""
  }</p>${
    s.reload
      ? `<p>last reload ${age(s.reload.at, now)}: ${
        s.reload.ok ? "applied" : `rejected: ${esc((s.reload.errors ?? []).join("; "))}`
      }</p>`
      : ""
  }</section>
<section><h2>Recent errors</h2>${
    errors ? `<ul class="errors">${errors}</ul>` : "<p>None.</p>"
  }</section>`;
}

/** The page's style sheet (the device view builds on it). */
export const PAGE_STYLE = `
:root{color-scheme:light dark;--ok:#1a7f37;--warn:#b08800;--bad:#cf222e;--line:#8884}
*{box-sizing:border-box}body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px;max-width:1200px;margin:auto}
h1{font-size:1.3em;margin:0 0 4px}h2{font-size:1.1em;margin:18px 0 8px}h3{margin:0;font-size:1.05em}
.sub{margin:2px 0;color:#888}small{color:#888}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px}.card header{display:flex;justify-content:space-between;align-items:center}
table{border-collapse:collapse;width:100%}td,th{padding:3px 6px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.num{text-align:right;font-variant-numeric:tabular-nums}.values th{font-weight:500}
.badge{border-radius:10px;padding:1px 8px;font-size:.8em;color:#fff;background:var(--bad)}.badge.ok{background:var(--ok)}.badge.warn{background:var(--warn)}
.sparks{margin:6px 0}.sparkrow{display:flex;justify-content:space-between;align-items:center;color:#2f81f7;gap:6px}.sparkrow span{color:#888;font-size:.85em}
.spark .axis{stroke:var(--line)}.spark .lo{fill:#cf222e}.spark .hi{fill:#1a7f37}abbr{text-decoration:none}
details{margin-top:6px}summary{cursor:pointer;color:#888}
.scroll{overflow-x:auto}.err{color:var(--bad);overflow-wrap:anywhere}.errors{padding-left:18px}
`;

/**
 * Page script: a read token given in the page's address goes along on its links
 * (it is never written into the page itself).
 */
export const CARRY_TOKEN = `const token = new URLSearchParams(location.search).get("token");
const carryToken = (links) => token && document.querySelectorAll(links)
  .forEach((a) => { a.search = "?token=" + encodeURIComponent(token); });`;

/** The whole page. */
export function renderPage(
  s: StatusJson,
  sparks: Sparks,
  options: { refreshMs?: number; now?: number; timeZone?: string } = {},
): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(s.gateway_id)} · edge-gateway</title><style>${PAGE_STYLE}</style></head><body>
<h1>edge-gateway · ${esc(s.gateway_id)}</h1>
<p class="sub">version ${esc(s.version)} · config ${
    esc(s.config_file ?? "(none)")
  } · <a href="/status">/status</a> · <a href="/metrics">/metrics</a></p>
<div id="live">${renderFragment(s, sparks, options)}</div>
<script>
${CARRY_TOKEN}
const withToken = () => carryToken('a[href^="device/"], a[href="/status"], a[href="/metrics"]');
withToken();
setInterval(async () => {
  try {
    const r = await fetch(token ? "/fragment?token=" + encodeURIComponent(token) : "/fragment", {
      cache: "no-store",
    });
    if (r.ok) {
      // A history the user unfolded stays unfolded across refreshes.
      const open = [...document.querySelectorAll("[data-source] details[open]")]
        .map((d) => d.closest("[data-source]").dataset.source);
      document.getElementById("live").innerHTML = await r.text();
      for (const source of open) {
        document.querySelector('[data-source="' + CSS.escape(source) + '"] details')
          ?.setAttribute("open", "");
      }
      withToken();
    }
  } catch (_) { /* gateway restarting: keep the last view */ }
}, ${options.refreshMs ?? 2000});
</script></body></html>`;
}
