/**
 * What a VE.Direct device adds to its device view: a charger's 30 days of yield
 * and peak power as bars, a monitor's lifetime figures (H1-H18), and a settings
 * form that reads and writes the device's HEX settings through the API.
 */
import type { ComponentJson } from "../../status.ts";
import { esc, value } from "../../util/html.ts";
import { plainName } from "../../victron/labels.ts";
import type { YieldDay } from "./days.ts";

const W = 720;
const H = 130;
const PAD = { left: 64, right: 8, top: 14, bottom: 24 };

function bars(days: YieldDay[], field: "yield_kwh" | "max_power_w", caption: string): string {
  const values = days.map((d) => d[field] ?? 0);
  const hi = Math.max(...values, field === "yield_kwh" ? 0.1 : 1);
  const slot = (W - PAD.left - PAD.right) / days.length;
  const y = (v: number) => H - PAD.bottom - v / hi * (H - PAD.top - PAD.bottom);
  const f1 = (n: number) => n.toFixed(1);
  const drawn = days.map((d, i) => {
    const v = d[field];
    const x = PAD.left + i * slot + slot * 0.15;
    const top = y(v ?? 0);
    // Every fifth day is labelled, counting back from today (labelled at its bar's right edge).
    const last = i === days.length - 1;
    const label = (days.length - 1 - i) % 5 === 0
      ? `<text x="${f1(last ? x + slot * 0.7 : x + slot * 0.35)}" y="${H - 6}" text-anchor="${
        last ? "end" : "middle"
      }">${esc(d.date.slice(5))}</text>`
      : "";
    return `<rect class="${v === null ? "bar none" : "bar"}" data-date="${
      esc(d.date)
    }" data-value="${v ?? ""}" x="${f1(x)}" y="${f1(top)}" width="${f1(slot * 0.7)}" height="${
      f1(H - PAD.bottom - top)
    }"><title>${esc(d.date)}: ${v === null ? "not available" : value(v)}</title></rect>${label}`;
  }).join("");
  return `<figure data-days="${field}"><figcaption>${esc(caption)} · max ${value(hi)}</figcaption>
<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${
    esc(caption)
  }, last ${days.length} days">
<line class="axis" x1="${PAD.left}" x2="${W - PAD.right}" y1="${H - PAD.bottom}" y2="${
    H - PAD.bottom
  }"/><text x="${PAD.left - 4}" y="${f1(y(hi) + 4)}" text-anchor="end">${value(hi)}</text>
<text x="${PAD.left - 4}" y="${H - PAD.bottom}" text-anchor="end">0</text>${drawn}</svg></figure>`;
}

/** A monitor's lifetime counters, in the order a BMV's display lists them. */
const LIFETIME = [
  "H1",
  "H2",
  "H3",
  "H4",
  "H5",
  "H6",
  "H7",
  "H8",
  "H9",
  "H10",
  "H11",
  "H12",
  "H13",
  "H14",
  "H15",
  "H16",
  "H17",
  "H18",
];

function lifetime(c: ComponentJson): string {
  const values = c.device?.values ?? {};
  const units = c.device?.units ?? {};
  const rows = LIFETIME.filter((k) => typeof values[k] === "number").map((k) =>
    `<tr><th>${esc(plainName(k))}</th><td class="num" data-field="${k}">${
      value(values[k])
    }</td><td>${esc(units[k] ?? "")}</td></tr>`
  );
  return rows.length
    ? `<h2>Lifetime</h2><table class="values lifetime">${rows.join("")}</table>`
    : "";
}

// Reads the settings when asked (each read is a round of HEX requests on the serial line),
// asks for the token once per page, never puts it in the URL.
const SETTINGS_SCRIPT = `
const box = document.getElementById("settings");
const api = "../devices/" + encodeURIComponent(box.dataset.node) + "/settings";
const readToken = new URLSearchParams(location.search).get("token");
let writeToken = null;
const say = (text, bad) => { const p = box.querySelector(".msg"); p.textContent = text; p.className = bad ? "msg bad" : "msg"; };
async function call(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  const token = writeToken || readToken;
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(path, { ...init, headers, cache: "no-store" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body.error || r.statusText), { status: r.status, body });
  return body;
}
function field(s) {
  const row = document.createElement("form");
  row.className = "setting";
  row.noValidate = true; // the gateway checks the range and says it
  row.dataset.setting = s.name;
  const label = document.createElement("label");
  label.textContent = s.label + (s.unit ? " (" + s.unit + ")" : "");
  let input;
  if (s.choices) {
    input = document.createElement("select");
    for (const [raw, word] of Object.entries(s.choices)) input.add(new Option(word, word, false, word === s.value));
  } else {
    input = document.createElement("input");
    input.type = "number"; input.step = "any"; input.min = s.min; input.max = s.max;
    input.value = s.value ?? "";
  }
  input.name = "value";
  label.append(input);
  const button = document.createElement("button");
  button.textContent = "Set";
  row.append(label, button);
  if (s.error) { button.disabled = true; label.title = s.error; }
  row.addEventListener("submit", async (e) => {
    e.preventDefault();
    writeToken ||= prompt("Bearer token (http.token) to change settings");
    if (!writeToken) return;
    const v = s.choices ? input.value : Number(input.value);
    const put = (confirmed) => call(api + "/" + encodeURIComponent(s.name), {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ value: v, confirm: confirmed }),
    });
    button.disabled = true;
    try {
      let c;
      try {
        c = await put(false);
      } catch (err) {
        // What stops charging or cuts a load: the gateway says what it would do, the owner decides.
        if (err.status !== 409 || !err.body.confirm_required) throw err;
        if (!confirm(s.label + " → " + v + "\\n\\n" + err.body.effect + "\\n\\nGo ahead?")) {
          say(s.label + ": not changed", false);
          return;
        }
        c = await put(true);
      }
      // What the device holds, as the audit event says: the value asked, or the one it clamped to.
      const clamped = c.outcome === "clamped";
      say(s.label + ": " + c.old + " → " + c.new + (clamped ? " (clamped by the device; asked " + c.requested + ")" : ""), clamped);
      input.value = c.new;
      // Another battery type: the voltages' safe ranges are other ones now.
      if (s.name === "battery_type") await load().catch(() => {});
    } catch (err) {
      if (err.status === 401) writeToken = null;
      say(s.label + ": " + (err.body?.outcome ? err.body.outcome + ": " : "") + err.message, true);
      if (err.body?.new != null) input.value = err.body.new;
    } finally { button.disabled = false; }
  });
  return row;
}
async function load() {
  const r = await call(api);
  box.querySelector(".list").replaceChildren(...r.settings.map(field));
  return r;
}
box.querySelector("button.read").addEventListener("click", async () => {
  say("reading the device…", false);
  try {
    const r = await load();
    say(r.product + ": " + r.settings.length + " settings read", false);
  } catch (err) { say(err.message, true); }
});`;

/** The device view's extra sections for a VE.Direct device. */
export function vedirectDetails(c: ComponentJson): string {
  const days = Array.isArray(c.days) ? c.days as YieldDay[] : [];
  const yieldBars = days.length
    ? `<h2>Last ${days.length} days</h2>${bars(days, "yield_kwh", "Yield (kWh)")}${
      bars(days, "max_power_w", "Max power (W)")
    }`
    : "";
  const settings = c.node
    ? `<h2>Settings</h2><section id="settings" data-node="${esc(c.node)}">
<p class="sub">Read from the device over VE.Direct HEX; changing one asks for the gateway's token.</p>
<button class="read" type="button">Read settings from the device</button>
<p class="msg" role="status"></p><div class="list"></div></section>
<script>${SETTINGS_SCRIPT}</script>`
    : "";
  return `<style>${STYLE}</style>${yieldBars}${lifetime(c)}${settings}`;
}

const STYLE = `
.chart .bar{fill:#e3a21a}.chart .bar.none{fill:var(--line)}
.setting{display:flex;gap:8px;align-items:center;margin:6px 0;flex-wrap:wrap}
.setting label{display:flex;gap:8px;align-items:center;flex:1 1 16em;justify-content:space-between}
.setting input,.setting select{font:inherit;max-width:14em}
.msg.bad{color:#d1242f}.lifetime{max-width:560px}
`;
