/** A VE.Direct device's card on the status page: live values, sparklines, frame health. */
import type { SourceCard } from "../../plugin.ts";
import type { ComponentJson } from "../../status.ts";
import { age, badge, esc, sparkline, value } from "../../util/html.ts";

/** Fields drawn as sparklines when a device has them. */
const SPARK_FIELDS = ["V", "PPV", "SOC", "I"];

function render(
  name: string,
  c: ComponentJson,
  options: { sparks: Record<string, number[]>; now: number },
): string {
  const { now } = options;
  const d = c.device ?? {};
  const values = d.values ?? {};
  const units = d.units ?? {};
  const checked = (c.counters.blocks_ok ?? 0) + (c.counters.checksum_errors ?? 0);
  const errRate = checked ? ((c.counters.checksum_errors ?? 0) / checked * 100).toFixed(2) : "0.00";
  // Code fields show their name with the number: "Bulk (3)"; identity labels are in the header.
  const rows = Object.entries(values)
    .filter(([k]) => !k.endsWith("_text") && !["PID", "SER#", "FW", "FWE", "BMV"].includes(k))
    .slice(0, 16)
    .map(([k, v]) => {
      const text = values[`${k}_text`];
      const shown = typeof text === "string" ? `${esc(text || "none")} (${value(v)})` : value(v);
      return `<tr><th>${esc(k)}</th><td class="num" data-field="${esc(k)}">${shown}</td><td>${
        esc(units[k] ?? "")
      }</td></tr>`;
    }).join("");
  const lines = Object.entries(options.sparks).map(([f, pts]) =>
    `<div class="sparkrow"><span>${esc(f)}${
      units[f] ? ` (${esc(units[f])})` : ""
    }, last hour</span>${sparkline(pts)}</div>`
  ).join("");
  return `<article class="card" data-source="${esc(name)}">
  <header><h3>${esc(name)}</h3>${badge(c.state)}</header>
  <p class="sub">${esc(d.product ?? c.kind)}${d.serial ? ` · ${esc(d.serial)}` : ""} · ${
    esc(c.port ?? "")
  }</p>
  <p class="sub">last frame <b class="age">${
    age(c.last_record_at, now)
  }</b> · checksum errors ${errRate}% · ${c.counters.blocks_ok ?? 0} blocks</p>
  ${lines ? `<div class="sparks">${lines}</div>` : ""}
  <table class="values">${rows}</table>
</article>`;
}

/** The card of a VE.Direct device, and the series it draws. */
export const vedirectCard: SourceCard = {
  render,
  sparks(c) {
    const values = c.device?.values ?? {};
    const fields = SPARK_FIELDS.filter((f) => typeof values[f] === "number");
    return c.node && fields.length > 0 ? { node: c.node, fields } : null;
  },
};
