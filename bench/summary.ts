/**
 * The figures the throughput issue asks for, each as a ratio or figure of this
 * run, marked met / not met against its target: one line at the end of the bench.
 */

/** Figures recorded by the benches, by key. */
const figures = new Map<string, number>();

/** Records a figure for the summary (the last one recorded under a key counts). */
export function record(key: string, value: number): void {
  figures.set(key, value);
}

interface Target {
  name: string;
  /** The figure (a ratio 0..1 or a plain number), or null when it was not measured. */
  value: () => number | null;
  /** At least (`>=`) or below (`<`) the target. */
  compare: ">=" | "<=" | "<";
  target: number;
  unit: "%" | "MB/s" | "MiB" | "MiB/day" | "fsync/s";
}

function ratio(a: string, b: string): () => number | null {
  return () => {
    const x = figures.get(a), y = figures.get(b);
    return x === undefined || y === undefined || y === 0 ? null : x / y;
  };
}

const plain = (key: string) => () => figures.get(key) ?? null;

const TARGETS: Target[] = [
  {
    name: "e2e/mqtt.js, 1 connection",
    value: ratio("e2e_points_s", "mqttjs_msgs_s"),
    compare: ">=",
    target: 0.9,
    unit: "%",
  },
  {
    name: "e2e/mqtt.js, N connections",
    value: plain("e2e_n_ratio"),
    compare: ">=",
    target: 1.3,
    unit: "%",
  },
  {
    // influxd alone on the very lines the drain sends (8 fields each), prebuilt.
    name: "outbox drain/influxd alone, same lines",
    value: ratio("drain_lines_s", "drain_ceiling_lines_s"),
    compare: ">=",
    target: 0.5,
    unit: "%",
  },
  {
    // As first measured: against influxd taking the end-to-end bench's 1-field points.
    name: "outbox drain/influxd alone, 1-field points",
    value: ratio("drain_lines_s", "influxd_points_s"),
    compare: ">=",
    target: 0.5,
    unit: "%",
  },
  {
    name: "embedded store/raw node:sqlite",
    value: ratio("embedded_samples_s", "sqlite_rows_s"),
    compare: ">=",
    target: 0.25,
    unit: "%",
  },
  {
    name: "redis store/redis-benchmark -P 64",
    value: ratio("redis_samples_s", "redis_benchmark_ops_s"),
    compare: ">=",
    target: 0.25,
    unit: "%",
  },
  {
    name: "VE.Direct parser",
    value: plain("parser_mb_s"),
    compare: ">=",
    target: 200,
    unit: "MB/s",
  },
  {
    name: "4 devices at 1 Hz, CPU",
    value: plain("devices_cpu"),
    compare: "<",
    target: 0.005,
    unit: "%",
  },
  {
    name: "idle RSS, 4 devices",
    value: plain("idle_rss_mib"),
    compare: "<=",
    target: 64,
    unit: "MiB",
  },
  {
    name: "burst RSS (60k messages)",
    value: plain("burst_rss_mib"),
    compare: "<=",
    target: 150,
    unit: "MiB",
  },
  {
    // Issue #37: an SD card's budget, 4 devices, the embedded store and InfluxDB up.
    name: "flash writes, uplink up",
    value: plain("flash_up_mib_day"),
    compare: "<=",
    target: 256,
    unit: "MiB/day",
  },
  {
    name: "fsyncs, uplink up",
    value: plain("flash_up_fsync_s"),
    compare: "<=",
    target: 0.2,
    unit: "fsync/s",
  },
];

function shown(v: number, unit: Target["unit"]): string {
  if (unit === "%") return `${(v * 100).toFixed(v < 0.1 ? 2 : 0)}%`;
  return `${v.toFixed(unit === "fsync/s" ? 2 : 0)} ${unit}`;
}

/** Prints one line: every target with this run's figure and met / not met. */
export function printSummary(): void {
  const parts = TARGETS.map((t) => {
    const v = t.value();
    if (v === null) {
      return `${t.name} not measured (target ${t.compare} ${shown(t.target, t.unit)})`;
    }
    const met = t.compare === ">="
      ? v >= t.target
      : t.compare === "<="
      ? v <= t.target
      : v < t.target;
    return `${t.name} ${shown(v, t.unit)} (${t.compare} ${shown(t.target, t.unit)}: ${
      met ? "met" : "not met"
    })`;
  });
  console.log(`summary: ${parts.join(" · ")}`);
}
