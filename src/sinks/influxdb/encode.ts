import type { Envelope, FieldValue, Sample } from "../../model.ts";
import type { InfluxConfig } from "./schema.ts";

function escapeKey(s: string): string {
  return s.replace(/[,= \\]/g, "\\$&").replace(/\n/g, "\\n");
}

function escapeMeasurement(s: string): string {
  return s.replace(/[, \\]/g, "\\$&").replace(/\n/g, "\\n");
}

function fieldValue(v: FieldValue): string | null {
  if (v === null) return null;
  // Numbers are always floats: an integer field later written as 12.5 would conflict.
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : null;
  if (typeof v === "boolean") return v ? "true" : "false";
  return `"${v.replace(/["\\]/g, "\\$&").replace(/\n/g, "\\n")}"`;
}

// Field keys repeat on every line: escape each distinct key once.
const escapedKeys = new Map<string, string>();
function fieldKey(k: string): string {
  let e = escapedKeys.get(k);
  if (e === undefined) {
    e = escapeKey(k);
    if (escapedKeys.size < 10_000) escapedKeys.set(k, e);
  }
  return e;
}

/** `measurement,tag=v,...` with tags sorted, as InfluxDB prefers. */
function seriesKey(measurement: string, tags: Record<string, string>): string {
  const t = Object.keys(tags).sort().filter((k) => tags[k] !== "").map((k) =>
    `,${escapeKey(k)}=${escapeKey(tags[k])}`
  ).join("");
  return escapeMeasurement(measurement) + t;
}

function line(series: string, fields: Record<string, FieldValue>, ts: number): string | null {
  let f = "";
  for (const k in fields) {
    const value = fieldValue(fields[k]);
    if (value !== null) f += (f ? "," : "") + fieldKey(k) + "=" + value;
  }
  // Microseconds: samples of one node arriving in one millisecond have distinct stamps.
  return f ? `${series} ${f} ${Math.round(ts * 1000)}` : null;
}

interface CompiledMapping {
  re: RegExp;
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, string>;
}

/**
 * Encodes envelopes to line protocol (microsecond precision). The identity of a point
 * is measurement + tags + timestamp, so a replay overwrites instead of duplicating.
 */
export function createEncoder(
  config: InfluxConfig,
  options: { gatewayId: string; kindOf?: (source: string) => string | undefined },
) {
  const mappings: CompiledMapping[] = config.mappings.map((m) => ({
    ...m,
    re: new RegExp(m.match),
  }));
  const base = { ...config.tags, gateway: options.gatewayId };

  const noTags: Record<string, string> = {};
  const templated = config.measurement.includes("{");
  // A source not run by this gateway (POST /ingest's `http`) is its own kind.
  const kindOf = (source: string) => options.kindOf?.(source) ?? source;
  function defaultMeasurement(source: string, node: string): string {
    return templated
      ? config.measurement.replace("{kind}", kindOf(source)).replace("{source}", source)
        .replace("{node}", node)
      : config.measurement;
  }

  function mapSample(node: string, source: string, fields: Record<string, FieldValue>) {
    for (const m of mappings) {
      const hit = m.re.exec(node);
      if (!hit) continue;
      const tags: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.tags)) {
        tags[k] = v.replace(/\$(\d+)/g, (_, i) => hit[Number(i)] ?? "");
      }
      const out: Record<string, FieldValue> = {};
      for (const [k, v] of Object.entries(fields)) {
        const name = m.fields[k] ?? (m.fields["*"] === "direct" ? k : undefined);
        if (name) out[name] = v;
      }
      return { measurement: m.measurement, tags, fields: out };
    }
    return { measurement: defaultMeasurement(source, node), tags: noTags, fields };
  }

  // The series key (measurement + tags) is the same for every sample of a device.
  const seriesCache = new Map<string, string>();
  function sampleSeries(s: Sample, mapped: { measurement: string; tags: Record<string, string> }) {
    const sampleTags = config.sample_tags && s.tags ? s.tags : {};
    let cacheKey = mapped.measurement + "\u0000" + s.node + "\u0000" + s.source;
    for (const k in sampleTags) cacheKey += "\u0000" + k + "=" + sampleTags[k];
    for (const k in mapped.tags) cacheKey += "\u0001" + k + "=" + mapped.tags[k];
    let series = seriesCache.get(cacheKey);
    if (series === undefined) {
      series = seriesKey(mapped.measurement, {
        ...sampleTags,
        ...mapped.tags,
        ...base,
        source: s.source,
        node: s.node,
      });
      if (seriesCache.size > 10_000) seriesCache.clear();
      seriesCache.set(cacheKey, series);
    }
    return series;
  }

  return function encode(batch: Envelope[]): string {
    const lines: string[] = [];
    for (const e of batch) {
      let l: string | null = null;
      if (e.kind === "sample") {
        const s = e.data;
        const m = mapSample(s.node, s.source, s.fields);
        l = line(sampleSeries(s, m), m.fields, s.ts);
      } else if (e.kind === "window") {
        const w = e.data;
        const measurement = config.window_measurement
          .replace("{measurement}", mapSample(w.node, w.source ?? "window", {}).measurement)
          .replace("{level}", w.level);
        const fields: Record<string, number> = {};
        for (const [col, st] of Object.entries(w.stats)) {
          fields[`${col}_avg`] = st.avg;
          fields[`${col}_min`] = st.min;
          fields[`${col}_max`] = st.max;
          fields[`${col}_sum`] = st.sum;
          fields[`${col}_count`] = st.count;
          // Configured percentiles (store.percentiles): `V_p95`.
          for (const k in st) {
            if (/^p\d+$/.test(k)) fields[`${col}_${k}`] = st[k as `p${number}`];
          }
        }
        l = line(
          seriesKey(measurement, {
            ...base,
            ...(w.source ? { source: w.source } : {}),
            node: w.node,
            level: w.level,
          }),
          fields,
          w.start,
        );
      } else if (e.kind === "event") {
        const ev = e.data;
        const fields: Record<string, FieldValue> = { id: ev.id };
        for (const [k, v] of Object.entries(ev.data)) {
          if (v === null || ["number", "string", "boolean"].includes(typeof v)) {
            fields[k] = v as FieldValue;
          }
        }
        const tags: Record<string, string> = { ...base, type: ev.type };
        if (ev.node) tags.node = ev.node;
        l = line(seriesKey(config.event_measurement, tags), fields, ev.ts);
      }
      if (l) lines.push(l);
    }
    return lines.join("\n");
  };
}
