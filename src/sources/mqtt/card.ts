/** The MQTT source's card on the status page: its busiest nodes and what became of them. */
import type { SourceCard } from "../../plugin.ts";
import type { ComponentJson } from "../../status.ts";
import { badge, bytes, esc } from "../../util/html.ts";

/** A message source (MQTT): its busiest nodes, what they sent, stored and had dropped. */
function render(name: string, c: ComponentJson): string {
  const nodes = Object.entries(c.nodes ?? {}).sort((a, b) => b[1].messages - a[1].messages);
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const rows = nodes.slice(0, 12).map(([node, n]) => {
    const why = Object.entries(n.dropped).map(([r, k]) => `${r} ${k}`).join(", ");
    return `<tr><th title="${esc(node)}">${
      esc(node.length > 14 ? node.slice(0, 13) + "…" : node)
    }</th>
<td class="num">${n.messages}</td><td class="num">${bytes(n.stored_bytes ?? 0)}</td>
<td class="num" title="${esc(why)}">${sum(n.dropped)}</td></tr>`;
  }).join("");
  const t = c.timelapse;
  const p = c.pending;
  return `<article class="card" data-source="${esc(name)}">
  <header><h3>${esc(name)}</h3>${badge(c.state)}</header>
  <p class="sub">${esc(c.kind)} · ${c.nodes_tracked ?? nodes.length} nodes · ${
    c.counters.messages ?? 0
  } messages · ${bytes(c.counters.bytes ?? 0)}</p>
  ${
    t
      ? `<p class="sub">timelapse: ${t.frames} frames waiting, ${bytes(t.bytes)} of ${
        bytes(t.max_bytes)
      }</p>`
      : ""
  }
  ${
    p && p.messages > 0
      ? `<p class="sub">pending: ${p.messages} messages, ${bytes(p.bytes)} of ${
        bytes(p.max_bytes ?? 0)
      }</p>`
      : ""
  }
  <table class="values"><tr><th>node</th><td>messages</td><td>stored</td><td>dropped</td></tr>${rows}</table>
</article>`;
}

/** The card of an MQTT source. */
export const mqttCard: SourceCard = { render };
