/** A VE.Direct device's card on the status page: live values, sparklines, frame health. */
import type { SourceCard } from "../../plugin.ts";
import type { ComponentJson } from "../../status.ts";
import { age, badge, esc, sparkline, sparkSpan, type TimePoint, value } from "../../util/html.ts";
import { plainName } from "../../victron/labels.ts";
import { vedirectDetails } from "./view.ts";
import { POWER_FLOW_STYLE, renderPowerFlow, timeToGo } from "./power_flow.ts";

/** Fields drawn as sparklines when a device has them. */
const SPARK_FIELDS = ["V", "PPV", "SOC", "I"];

/** Identity labels, shown in the card's header instead of its table. */
const IDENTITY = ["PID", "SER#", "FW", "FWE", "BMV"];

/** History counters (H1-H23, the HEX day history, the day number): folded away by default. */
const isHistory = (label: string) => /^H(\d+|_|SDS$)/.test(label);

function row(label: string, v: unknown, options: { text?: unknown; unit?: string }): string {
  // Code fields show their name with the number: "Bulk (3)"; TTG in hours and minutes as the
  // power flow says it (-1, charging: ∞), its unit in the text.
  const ttg = label === "TTG" && typeof v === "number";
  const shown = ttg
    ? esc(timeToGo(v))
    : typeof options.text === "string"
    ? `${esc(options.text || "none")} (${value(v)})`
    : value(v);
  return `<tr><th><abbr title="VE.Direct label ${esc(label)}">${
    esc(plainName(label))
  }</abbr></th><td class="num" data-field="${esc(label)}">${shown}</td><td>${
    ttg ? "" : esc(options.unit ?? "")
  }</td></tr>`;
}

function render(
  name: string,
  c: ComponentJson,
  options: { sparks: Record<string, TimePoint[]>; now: number },
): string {
  const { now } = options;
  const d = c.device ?? {};
  const values = d.values ?? {};
  const units = d.units ?? {};
  const checked = (c.counters.blocks_ok ?? 0) + (c.counters.checksum_errors ?? 0);
  const errRate = checked ? ((c.counters.checksum_errors ?? 0) / checked * 100).toFixed(2) : "0.00";
  const fields = Object.entries(values).filter(([k]) =>
    !k.endsWith("_text") && !IDENTITY.includes(k)
  );
  const rows = (list: [string, unknown][]) =>
    list.map(([k, v]) => row(k, v, { text: values[`${k}_text`], unit: units[k] })).join("");
  const history = fields.filter(([k]) => isHistory(k));
  const lines = Object.entries(options.sparks).map(([f, pts]) => {
    const vs = pts.map((p) => p[1]);
    const range = vs.length ? ` · ${value(Math.min(...vs))} to ${value(Math.max(...vs))}` : "";
    const span = sparkSpan(pts, now);
    return `<div class="sparkrow"><span>${esc(plainName(f))}${
      units[f] ? ` (${esc(units[f])})` : ""
    }, ${span.label}${range}</span>${sparkline(pts, { from: span.from, to: now })}</div>`;
  }).join("");
  return `<article class="card" data-source="${esc(name)}">
  <header><h3>${esc(name)}</h3>${badge(c.state)}</header>
  <p class="sub">${esc(d.product ?? c.kind)}${d.serial ? ` · ${esc(d.serial)}` : ""} · ${
    esc(c.port ?? "")
  }${c.node ? ` · <a href="device/${encodeURIComponent(c.node)}">last 24 h</a>` : ""}</p>
  <p class="sub">last frame <b class="age">${
    age(c.last_record_at, now)
  }</b> · checksum errors ${errRate}% · ${c.counters.blocks_ok ?? 0} blocks</p>
  ${lines ? `<div class="sparks">${lines}</div>` : ""}
  <table class="values">${rows(fields.filter(([k]) => !isHistory(k)))}</table>
  ${
    history.length
      ? `<details><summary>History (${history.length} values)</summary><table class="values">${
        rows(history)
      }</table></details>`
      : ""
  }
</article>`;
}

/** The card of a VE.Direct device, and the series it draws. */
export const vedirectCard: SourceCard = {
  render,
  fieldName: (field) => plainName(field),
  details: vedirectDetails,
  overview(sources, now) {
    const flow = renderPowerFlow(sources, now);
    return flow && `<style>${POWER_FLOW_STYLE}</style>${flow}`;
  },
  sparks(c) {
    const values = c.device?.values ?? {};
    const fields = SPARK_FIELDS.filter((f) => typeof values[f] === "number");
    return c.node && fields.length > 0 ? { node: c.node, fields } : null;
  },
};
