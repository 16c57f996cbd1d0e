/**
 * Whole-gateway figures from a real process: CPU with 4 simulated devices at
 * 1 Hz (steady state: a minute after 40 s of start-up), and RSS through an upstream outage at 10k samples/s (BENCH_OUTAGE_S,
 * default 60 s; the figure is 600 s).
 */
import { startGateway } from "../tests/helpers/gateway.ts";
import { record } from "./summary.ts";
import { report } from "./util.ts";

const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** Anonymous memory vs pages of files (the deno executable's code above all: clean, shared). */
function residentSplit(pid: number): string {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return `${(kib("RssAnon") / 1024).toFixed(0)} MiB anonymous, ${
    (kib("RssFile") / 1024).toFixed(0)
  } MiB of files`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the gateway benchmarks. */
export async function benchGateway(): Promise<void> {
  const sim = await startGateway((port, data) =>
    `gateway: {data_dir: ${data}}
log: {level: warn}
http: {port: ${port}}
sources:
  mppt1: {type: vedirect, simulate: mppt}
  mppt2: {type: vedirect, simulate: mppt, seed: 2}
  bmv1: {type: vedirect, simulate: bmv, seed: 3}
  bmv2: {type: vedirect, simulate: bmv, seed: 4}
`
  );
  try {
    // Steady state, as a board runs for months: past start-up (module compilation, and V8's
    // memory reducer collecting ~30 s after start), over a minute that holds one aggregation.
    await sleep(40_000);
    const t0 = cpuTicks(sim.child.pid);
    const window = 60;
    await sleep(window * 1000);
    const used = (cpuTicks(sim.child.pid) - t0) / CLK_TCK;
    record("devices_cpu", used / window);
    record("idle_rss_mib", sim.rssMiB());
    report(
      "gateway CPU, 4 simulated devices at 1 Hz",
      `${(used / window * 100).toFixed(2)} %`,
      `of one core over ${window} s after 40 s of start-up, embedded store, RSS ${
        sim.rssMiB().toFixed(0)
      } MiB ` +
        `(${residentSplit(sim.child.pid)})`,
    );
  } finally {
    await sim.stop();
    await Deno.remove(sim.dir, { recursive: true });
  }

  const outageS = Number(Deno.env.get("BENCH_OUTAGE_S") ?? 60);
  const gw = await startGateway((port, data) =>
    `gateway: {data_dir: ${data}}
log: {level: error}
http: {port: ${port}, token: bench}
outbox: {sync: normal}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:9", database: d, backoff_max: 5s}
`
  );
  try {
    let seq = 0;
    let maxRss = 0;
    const until = Date.now() + outageS * 1000;
    const started = Date.now();
    while (Date.now() < until) {
      const second = Date.now();
      for (let i = 0; i < 10; i++) {
        const body = JSON.stringify(
          Array.from({ length: 1000 }, () => ({
            node: `n${seq % 50}`,
            ts: 1_767_225_600_000 + seq++,
            fields: { V: 12.8, I: -3.2, P: -41, SOC: 87.6, CE: -12.3, TTG: 1234, VS: 12.7, AR: 0 },
          })),
        );
        const res = await fetch(`${gw.url}/ingest`, {
          method: "POST",
          body,
          headers: { Authorization: "Bearer bench", "Content-Type": "application/json" },
        });
        await res.body?.cancel();
      }
      maxRss = Math.max(maxRss, gw.rssMiB());
      if (Deno.env.get("BENCH_VERBOSE")) {
        console.log(
          `  t=${Math.round((Date.now() - started) / 1000)}s rss=${gw.rssMiB().toFixed(0)} MiB`,
        );
      }
      const left = 1000 - (Date.now() - second);
      if (left > 0) await sleep(left);
    }
    const rate = seq / ((Date.now() - started) / 1000);
    report(
      `gateway RSS through a ${outageS} s outage`,
      `${maxRss.toFixed(0)} MiB max`,
      `${seq} samples at ${Math.round(rate)}/s into a 256 MiB outbox (oldest dropped when full)`,
    );
  } finally {
    await gw.stop();
    await Deno.remove(gw.dir, { recursive: true });
  }
}

if (import.meta.main) await benchGateway();
