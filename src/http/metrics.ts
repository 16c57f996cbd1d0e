import type { Sample } from "../model.ts";
import type { DeviceMetric } from "../plugin.ts";
import { sourcePlugin } from "../sources/registry.ts";
import type { ComponentJson, StatusJson } from "../status_report.ts";
import { registerClockMetrics } from "./clock_metrics.ts";
import { registerStorageMetrics } from "./storage_metrics.ts";

/** A node's latest sample and the kind of its source. */
export interface Reading {
  sample: Sample;
  kind: string;
}

type Render = (status: StatusJson, readings?: Reading[]) => Promise<{ body: string; type: string }>;

/** Prometheus names allow [a-zA-Z_:][a-zA-Z0-9_:]*; kinds are plain words already. */
function metricName(s: string): string {
  return s.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([0-9])/, "_$1");
}

/** The gauges of a reading: its plugin's table, or every number as `<kind>_value{field}`. */
export function deviceMetrics(reading: Reading): DeviceMetric[] {
  const plugin = sourcePlugin(reading.kind);
  if (plugin?.metrics) return plugin.metrics(reading.sample);
  const { sample, kind } = reading;
  const out: DeviceMetric[] = [];
  for (const [field, v] of Object.entries(sample.fields)) {
    const value = typeof v === "boolean" ? +v : v;
    if (typeof value !== "number" || !Number.isFinite(value)) continue;
    out.push({
      name: `${metricName(kind)}_value`,
      help: `Latest numeric values from ${kind} sources, by node and field`,
      labels: { source: sample.source, node: sample.node, field },
      value,
    });
  }
  return out;
}

const STATE_VALUE: Record<string, number> = { up: 1, degraded: 0.5 };

/**
 * Prometheus metrics for every figure of /status, with prom-client. Each
 * scrape reads one status snapshot, so the figures are consistent.
 */
export function createMetrics(): Render {
  // prom-client (~14 MB) is loaded with the first scrape, not by every gateway.
  let built: Promise<Render> | null = null;
  return async (status, readings) => {
    built ??= buildMetrics();
    return (await built)(status, readings);
  };
}

async function buildMetrics(): Promise<Render> {
  const client = (await import("prom-client")).default;
  const registry = new client.Registry();
  let snap: StatusJson | null = null;
  const components = () =>
    snap
      ? [
        { role: "store", c: snap.store },
        { role: "outbox", c: snap.outbox },
        ...Object.values(snap.sources).map((c) => ({ role: "source", c })),
        ...Object.values(snap.sinks).map((c) => ({ role: "sink", c })),
      ]
      : [];
  const labels = ["role", "component", "kind"] as const;

  new client.Gauge({
    name: "edge_component_up",
    help: "1 up, 0.5 degraded, 0 stale (a silent device)/down/starting/stopped",
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const { role, c } of components()) {
        this.set({ role, component: c.name, kind: c.kind }, STATE_VALUE[c.state] ?? 0);
      }
    },
  });
  // One counter per component for a plain figure of its status.
  const perComponent = (name: string, help: string, pick: (c: ComponentJson) => number) =>
    new client.Counter({
      name,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const { role, c } of components()) {
          this.inc({ role, component: c.name, kind: c.kind }, pick(c));
        }
      },
    });
  perComponent(
    "edge_processed_total",
    "Items handled successfully (samples read, records sent, rows stored)",
    (c) => c.processed,
  );
  perComponent(
    "edge_failed_total",
    "Failures (write attempts, reads, parse errors)",
    (c) => c.failed,
  );
  new client.Counter({
    name: "edge_dropped_total",
    help: "Records dropped, by reason",
    labelNames: [...labels, "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { role, c } of components()) {
        for (const [reason, n] of Object.entries(c.dropped)) {
          this.inc({ role, component: c.name, kind: c.kind, reason }, n);
        }
      }
    },
  });
  new client.Counter({
    name: "edge_events_total",
    help: "Component counters (blocks_ok, checksum_errors, resyncs, retried, dead_lettered, ...)",
    labelNames: [...labels, "counter"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { role, c } of components()) {
        for (const [counter, n] of Object.entries(c.counters)) {
          this.inc({ role, component: c.name, kind: c.kind, counter }, n);
        }
      }
    },
  });
  const queue = (
    name: string,
    help: string,
    pick: (q: NonNullable<ComponentJson["queue"]>) => number | null,
  ) =>
    new client.Gauge({
      name,
      help,
      labelNames: ["sink"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [sink, c] of Object.entries(snap?.sinks ?? {})) {
          const v = c.queue ? pick(c.queue) : null;
          if (v !== null) this.set({ sink }, v);
        }
      },
    });
  queue("edge_sink_queue_records", "Records waiting in the outbox for a sink", (q) => q.records);
  queue("edge_sink_queue_bytes", "Bytes waiting in the outbox for a sink", (q) => q.bytes);
  queue(
    "edge_sink_queue_oldest_age_seconds",
    "Age of the oldest record waiting for a sink",
    (q) => q.oldest_age_ms === null ? 0 : q.oldest_age_ms / 1000,
  );
  new client.Gauge({
    name: "edge_source_last_record_age_seconds",
    help: "Seconds since a source's last record",
    labelNames: ["source"],
    registers: [registry],
    collect() {
      this.reset();
      // Records carry the gateway's time: ahead of the wall clock while a step back is absorbed.
      const now = Date.now() + (snap?.clock?.catching_up_ms ?? 0);
      for (const [source, c] of Object.entries(snap?.sources ?? {})) {
        if (c.last_record_at) this.set({ source }, (now - Date.parse(c.last_record_at)) / 1000);
      }
    },
  });
  // A device source's own judgement (one notion: src/sources/vedirect/freshness.ts), and the
  // time of its last record, which unlike an age needs no clock of the scraper's.
  const deviceSources = () =>
    Object.entries(snap?.sources ?? {}).filter(([, c]) => typeof c.stale === "boolean");
  new client.Gauge({
    name: "edge_source_stale",
    help: "1 when a device source's device sent nothing within its stale_after, else 0",
    labelNames: ["source", "node"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, c] of deviceSources()) {
        this.set({ source, node: String(c.node ?? source) }, c.stale ? 1 : 0);
      }
    },
  });
  new client.Gauge({
    name: "edge_source_last_record_timestamp_seconds",
    help: "Time of a source's last record (Unix seconds)",
    labelNames: ["source"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, c] of Object.entries(snap?.sources ?? {})) {
        if (c.last_record_at) this.set({ source }, Date.parse(c.last_record_at) / 1000);
      }
    },
  });
  new client.Gauge({
    name: "edge_outbox_bytes",
    help: "Bytes held in the outbox",
    registers: [registry],
    collect() {
      this.set(snap?.outbox.bytes ?? 0);
    },
  });
  new client.Gauge({
    name: "edge_outbox_max_bytes",
    help: "Bound of the outbox",
    registers: [registry],
    collect() {
      this.set(snap?.outbox.max_bytes ?? 0);
    },
  });
  new client.Gauge({
    name: "edge_outbox_full",
    help: "1 while the outbox refuses new records, by reason (buffer_full, disk_full, io_error)",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.reset();
      const full = snap?.outbox.full;
      if (full) this.set({ reason: full.reason }, 1);
    },
  });
  new client.Gauge({
    name: "edge_source_held_items",
    help: "Items of a source waiting for the outbox to take them (it refused them: full)",
    labelNames: ["source"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, c] of Object.entries(snap?.sources ?? {})) {
        this.set({ source }, c.held?.items ?? 0);
      }
    },
  });
  new client.Gauge({
    name: "edge_process_memory_bytes",
    help: "Memory of the gateway process: rss (resident), heap_used (JavaScript), external",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      const m = Deno.memoryUsage();
      this.set({ kind: "rss" }, m.rss);
      this.set({ kind: "heap_used" }, m.heapUsed);
      this.set({ kind: "external" }, m.external);
    },
  });
  registerStorageMetrics(client, registry, () => snap);
  new client.Gauge({
    name: "edge_uptime_seconds",
    help: "Seconds since the gateway started",
    registers: [registry],
    collect() {
      this.set(snap?.uptime_s ?? 0);
    },
  });
  new client.Gauge({
    name: "edge_build_info",
    help: "Version and gateway id (always 1)",
    labelNames: ["version", "gateway_id"],
    registers: [registry],
    collect() {
      this.reset();
      if (snap) this.set({ version: snap.version, gateway_id: snap.gateway_id }, 1);
    },
  });
  registerClockMetrics(client, registry, () => snap);

  // Device families appear as plugins name them; each scrape sets them afresh, so a node
  // forgotten (beyond http.metrics_max_nodes) disappears from the next one. A family's label
  // names are the union of its series' (a label a device lacks is left out, not set to "").
  type Family = {
    labels: Set<string>;
    metric: InstanceType<typeof client.Gauge> | InstanceType<typeof client.Counter>;
  };
  const families = new Map<string, Family>();
  function family(m: DeviceMetric, labels: Set<string>): Family {
    const known = families.get(m.name);
    if (known && [...labels].every((l) => known.labels.has(l))) return known;
    if (known) registry.removeSingleMetric(m.name);
    const options = { name: m.name, help: m.help, labelNames: [...labels], registers: [registry] };
    const made = {
      labels,
      metric: m.type === "counter" ? new client.Counter(options) : new client.Gauge(options),
    };
    families.set(m.name, made);
    return made;
  }
  function setDevices(readings: Reading[]): void {
    for (const f of families.values()) f.metric.reset();
    const metrics = readings.flatMap(deviceMetrics);
    const labels = new Map<string, Set<string>>();
    for (const m of metrics) {
      const set = labels.get(m.name) ?? new Set();
      for (const l in m.labels) set.add(l);
      labels.set(m.name, set);
    }
    for (const m of metrics) {
      const f = family(m, labels.get(m.name)!);
      if (f.metric instanceof client.Counter) {
        // A counter cannot go down; a device whose history was cleared shows 0 until it grows.
        if (m.value >= 0 && Number.isFinite(m.value)) f.metric.inc(m.labels, m.value);
      } else f.metric.set(m.labels, m.value);
    }
  }

  return async function render(status: StatusJson, readings: Reading[] = []) {
    snap = status;
    // A stale device's last values are not current: left out, so Prometheus marks its series
    // stale (gaps, as the power flow leaves it out of its sums); edge_source_stale says why.
    const silent = new Set(Object.values(status.sources).filter((c) => c.stale).map((c) => c.node));
    setDevices(readings.filter((r) => !silent.has(r.sample.node)));
    return { body: await registry.metrics(), type: registry.contentType };
  };
}
