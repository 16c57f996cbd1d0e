/**
 * What the gateway writes to its flash (issue #37): 4 simulated VE.Direct devices at 1 Hz, the
 * embedded store (1m + 5m windows) and one InfluxDB sink forwarding samples and windows, with the
 * uplink up and down. Prints MiB written a day (/proc/<pid>/io write_bytes) and fsyncs a second
 * (strace when installed, else the gateway's own count from /metrics) beside the data's own bytes
 * a day (the JSON of the records the outbox took). BENCH_FLASH_S sets the measured window (300 s: several checkpoints and 5m windows).
 */
import { startGateway } from "../tests/helpers/gateway.ts";
import { startInfluxd } from "../tests/helpers/influxd.ts";
import { freePort } from "../tests/helpers/server.ts";
import { record } from "./summary.ts";
import { report } from "./util.ts";

const DAY = 86_400;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeBytes(pid: number): number {
  const io = Deno.readTextFileSync(`/proc/${pid}/io`);
  return Number(/write_bytes:\s+(\d+)/.exec(io)?.[1] ?? 0);
}

/** A metric's value from /metrics text (0 when absent). */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

async function hasStrace(): Promise<boolean> {
  try {
    return (await new Deno.Command("strace", { args: ["-V"], stdout: "null" }).output()).success;
  } catch {
    return false;
  }
}

/** Counts a process's fsync/fdatasync calls (all threads) until `stop` is called. */
function traceSyncs(pid: number, out: string): { stop(): Promise<number> } {
  const child = new Deno.Command("strace", {
    args: Deno.env.get("BENCH_FLASH_TRACE_FILES")
      ? ["-f", "-y", "-e", "trace=fsync,fdatasync,pwrite64", "-o", out, "-p", String(pid)]
      : ["-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out, "-p", String(pid)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    async stop() {
      child.kill("SIGINT");
      await child.status;
      const text = await Deno.readTextFile(out).catch(() => "");
      if (Deno.env.get("BENCH_FLASH_TRACE_FILES")) await Deno.copyFile(out, "/tmp/flash_files.txt");
      let n = 0;
      for (
        const m of text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync$/gm)
      ) {
        n += Number(m[1]);
      }
      return n;
    },
  };
}

/** One run's figures. */
export interface FlashFigures {
  mibPerDay: number;
  fsyncPerS: number;
  /** The gateway's own count (/metrics edge_fsyncs_total), beside strace's. */
  countedFsyncPerS: number;
  /** /metrics edge_process_written_bytes_total, beside /proc/<pid>/io read here. */
  exportedMibPerDay: number;
  dataMibPerDay: number;
  cpuPercent: number;
}

const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Runs the 4-device gateway for `seconds` after a warm-up and measures what it writes. */
export async function measureFlash(
  uplink: "up" | "down",
  options: { seconds: number; warmup: number; extra?: string },
): Promise<FlashFigures> {
  const influx = uplink === "up" ? await startInfluxd() : null;
  const influxPort = influx?.port ?? freePort(); // down: nothing listens there
  const gw = await startGateway((port, data) =>
    `gateway: {data_dir: ${data}${options.extra ?? ""}}
log: {level: warn}
http: {port: ${port}}
store:
  type: embedded
  windows: [{level: 1m}, {level: 5m, from: 1m}]
sources:
  mppt1: {type: vedirect, simulate: mppt}
  mppt2: {type: vedirect, simulate: mppt, seed: 2}
  bmv1: {type: vedirect, simulate: bmv, seed: 3}
  bmv2: {type: vedirect, simulate: bmv, seed: 4}
sinks:
  influx:
    type: influxdb
    url: http://127.0.0.1:${influxPort}
    database: flash
    create_database: true
    forward: [sample, window]
    backoff_max: 10s
`
  );
  const pid = gw.child.pid;
  const metrics = async () => await (await fetch(`${gw.url}/metrics`)).text();
  const appended = async () =>
    ((await gw.status()).outbox.counters.appended_bytes as number | undefined) ?? 0;
  try {
    await metrics(); // loads prom-client (its compiled code is cached on disk) before measuring
    await sleep(options.warmup * 1000);
    const strace = await hasStrace() ? traceSyncs(pid, `${gw.dir}/strace-${uplink}.txt`) : null;
    await sleep(500); // strace attached
    const m0 = await metrics();
    const a0 = await appended();
    const w0 = writeBytes(pid);
    const c0 = cpuTicks(pid);
    const t0 = performance.now();
    await sleep(options.seconds * 1000);
    const w1 = writeBytes(pid);
    const c1 = cpuTicks(pid);
    const elapsed = (performance.now() - t0) / 1000;
    const m1 = await metrics();
    const a1 = await appended();
    const traced = await strace?.stop();
    const counted = metric(m1, "edge_fsyncs_total") - metric(m0, "edge_fsyncs_total");
    const exported = metric(m1, "edge_process_written_bytes_total") -
      metric(m0, "edge_process_written_bytes_total");
    const data = a1 - a0;
    const perDay = (bytes: number) => bytes / elapsed * DAY / 1024 ** 2;
    return {
      mibPerDay: perDay(w1 - w0),
      exportedMibPerDay: perDay(exported),
      fsyncPerS: (traced ?? counted) / elapsed,
      countedFsyncPerS: counted / elapsed,
      dataMibPerDay: perDay(data),
      cpuPercent: (c1 - c0) / CLK_TCK / elapsed * 100,
    };
  } finally {
    await gw.stop();
    await influx?.stop();
    await Deno.remove(gw.dir, { recursive: true });
  }
}

/** Runs the flash bench: uplink up, then down. */
export async function benchFlash(): Promise<void> {
  const seconds = Number(Deno.env.get("BENCH_FLASH_S") ?? 300);
  const warmup = Number(Deno.env.get("BENCH_FLASH_WARMUP_S") ?? 40);
  const extra = Deno.env.get("BENCH_FLASH_GATEWAY") ?? "";
  const uplinks = (Deno.env.get("BENCH_FLASH_UPLINK") ?? "up,down").split(",") as ("up" | "down")[];
  for (const uplink of uplinks) {
    const f = await measureFlash(uplink, { seconds, warmup, extra });
    record(`flash_${uplink}_mib_day`, f.mibPerDay);
    record(`flash_${uplink}_fsync_s`, f.fsyncPerS);
    report(
      `flash writes, 4 devices, uplink ${uplink}`,
      `${f.mibPerDay.toFixed(1)} MiB/day`,
      `${f.fsyncPerS.toFixed(3)} fsync/s (strace; counted by the gateway ${
        f.countedFsyncPerS.toFixed(3)
      }; /metrics says ${f.exportedMibPerDay.toFixed(1)} MiB/day); the data itself ${
        f.dataMibPerDay.toFixed(1)
      } MiB/day; CPU ${f.cpuPercent.toFixed(2)} % of a core (over ${seconds} s after ${warmup} s)`,
    );
  }
}

if (import.meta.main) await benchFlash();
