/**
 * End to end: messages published to mosquitto -> the gateway (its own process,
 * production flags) -> distinct points stored in influxd, per second, against
 * influxd's own ceiling for the same points (5,000-line gzip batches by fetch),
 * measured in the same run. BENCH_E2E_MESSAGES sets the burst (default 200000; the memory
 * figure is taken under a burst of 60,000, as the issue states it);
 * BENCH_PROFILE_DIR profiles the gateway during it.
 *
 * CPU per point (issue #41), under each end-to-end line: the CPU time (user + system, all
 * threads: Workers included) of the whole gateway process from just before the publisher
 * starts until influxd holds every point, divided by the points delivered; and, in the same
 * run, mqtt.js alone: a plain mqtt.js client in a process of its own (bench/mqtt_counter.ts,
 * the gateway's flags) subscribed to the same filter on the same broker, only counting, its
 * CPU time divided by the messages it received. Both in us, read from /proc/<pid>/stat (10 ms
 * ticks). The machine is shared (other processes, the broker and influxd take cores too), so
 * wall rates move with the load; CPU time per point is the figure to compare between
 * versions. The counter makes mosquitto send each message twice, which slows the wall rates a
 * little: BENCH_E2E_COUNTER=0 leaves it out (rates comparable with earlier runs, no mqtt.js
 * figure). Run just this bench: `deno task bench:e2e`.
 */
import { startGateway } from "../tests/helpers/gateway.ts";
import {
  influxQuery,
  type Server,
  startInfluxd,
  startMosquitto,
} from "../tests/helpers/servers.ts";
import mqtt from "mqtt";
import { RUN_FLAGS } from "../tests/helpers/cli.ts";
import { spawnPublisher } from "../tests/helpers/publisher.ts";
import { CpuProfile, inspectFlag } from "./cpu_profile.ts";
import { type Counter, spawnCounter } from "./mqtt_counter.ts";
import { record } from "./summary.ts";
import { cpuSeconds, machine, report } from "./util.ts";

const MESSAGES = Number(Deno.env.get("BENCH_E2E_MESSAGES") ?? 200_000);
/** The burst of the memory figure (the issue's: 60,000 messages). */
const BURST_MESSAGES = 60_000;
/** The mqtt.js counter beside each end-to-end run (BENCH_E2E_COUNTER=0: none). */
const COUNTER = Deno.env.get("BENCH_E2E_COUNTER") !== "0";
/** Where to write a CPU profile of the gateway during each burst (`<dir>/gateway-<nodes>.cpuprofile`). */
const PROFILE_DIR = Deno.env.get("BENCH_PROFILE_DIR");

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function points(influx: Server, db: string, measurement: string): Promise<number> {
  const s = await influxQuery(influx.port, { db, q: `SELECT count(*) FROM "${measurement}"` });
  return Number(s[0]?.values[0]?.[1] ?? 0);
}

/** influxd alone: the same points the gateway writes, in 5,000-line gzip batches. */
async function ceiling(influx: Server, nodes: number): Promise<number> {
  const db = `ceiling${nodes}`;
  await fetch(`http://127.0.0.1:${influx.port}/query?q=CREATE+DATABASE+${db}`, { method: "POST" });
  const t0 = Date.UTC(2026, 0, 1) * 1000;
  const batches: Uint8Array[] = [];
  for (let i = 0; i < MESSAGES; i += 5000) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(i + 5000, MESSAGES); j++) {
      const node = `00000000-0000-4000-8000-${String(j % nodes).padStart(12, "0")}`;
      lines.push(
        `units,gateway=bench,node=${node},topic=pepeunit/${node}/pepeunit value=${j % 1000 / 10} ${
          t0 + j
        }`,
      );
    }
    batches.push(await gzip(lines.join("\n")));
  }
  const started = performance.now();
  for (const body of batches) {
    const res = await fetch(`http://127.0.0.1:${influx.port}/write?db=${db}&precision=u`, {
      method: "POST",
      headers: { "Content-Encoding": "gzip" },
      body: body as BodyInit,
    });
    await res.body?.cancel();
    if (res.status !== 204) throw new Error(`influxd answered ${res.status}`);
  }
  return MESSAGES / ((performance.now() - started) / 1000);
}

/** Idle and total CPU ticks of the whole machine so far (Linux /proc/stat). */
function machineTicks(): { idle: number; total: number } {
  const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1);
  const t = cpu.map(Number);
  return { idle: t[3] + t[4], total: t.reduce((a, b) => a + b, 0) };
}

/**
 * mqtt.js alone in Deno, doing nothing with the messages: the most a gateway
 * built on it can take from mosquitto on this machine; and how busy the machine
 * was meanwhile (receiver, broker and publisher share its cores).
 */
async function subscriberCeiling(nodes: number): Promise<{ rate: number; busy: number }> {
  const broker = await startMosquitto({
    config: "max_queued_messages 0\nmax_inflight_messages 0\n",
  });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const client = await mqtt.connectAsync(url, { clientId: "ceiling" });
  try {
    let n = 0;
    const all = Promise.withResolvers<void>();
    client.on("message", () => {
      if (++n === MESSAGES) all.resolve();
    });
    await client.subscribeAsync("pepeunit/+/pepeunit", { qos: 1 });
    const started = performance.now();
    const before = machineTicks();
    const publisher = spawnPublisher(url, MESSAGES, nodes);
    await all.promise;
    const rate = MESSAGES / ((performance.now() - started) / 1000);
    const after = machineTicks();
    await publisher.status;
    return { rate, busy: 1 - (after.idle - before.idle) / (after.total - before.total) };
  } finally {
    await client.endAsync();
    await broker.stop();
  }
}

/** CPU figures of one end-to-end run, in us. */
interface CpuFigures {
  /** The gateway's main thread, per message published. */
  mainUs: number;
  /** The whole gateway process (all threads), per point delivered to influxd. */
  gatewayUs: number;
  /** The gateway's CPU seconds over the run. */
  gatewayS: number;
  /** mqtt.js alone (its own process), per message it received; null without the counter. */
  mqttjsUs: number | null;
  /** Messages mqtt.js alone received. */
  mqttjsReceived: number;
}

async function endToEnd(
  influx: Server,
  nodes: number,
  options: { workers: boolean; connections: number; messages?: number },
): Promise<{ rate: number; stored: number; rss: number; cpu: CpuFigures }> {
  const messages = options.messages ?? MESSAGES;
  const broker = await startMosquitto({
    config: "max_queued_messages 0\nmax_inflight_messages 0\n",
  });
  const db = `e2e${nodes}${options.workers ? "w" : ""}c${options.connections}m${messages}`;
  const inspect = PROFILE_DIR ? inspectFlag() : null;
  const gw = await startGateway(
    (port, data) =>
      `gateway: {id: bench, data_dir: ${data}, delivery_workers: ${options.workers}}
log: {level: warn}
http: {port: ${port}}
sources:
  units: {type: mqtt, url: "mqtt://127.0.0.1:${broker.port}", topics: ["pepeunit/+/pepeunit"], connections: ${options.connections}}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: ${db}, create_database: true, batch_size: 5000, max_wait: 200ms}
`,
    { flags: inspect ? [...RUN_FLAGS, inspect.flag] : undefined },
  );
  let counter: Counter | null = null;
  try {
    await gw.up("mqtt.units");
    const pid = gw.child.pid;
    if (COUNTER) {
      counter = spawnCounter(`mqtt://127.0.0.1:${broker.port}`, "pepeunit/+/pepeunit", messages);
      await counter.ready;
    }
    const profile = inspect ? await CpuProfile.start(inspect.port) : null;
    const started = performance.now();
    const main0 = cpuSeconds(pid, pid);
    const gateway0 = cpuSeconds(pid);
    const counter0 = counter ? cpuSeconds(counter.pid) : 0;
    const publisher = spawnPublisher(`mqtt://127.0.0.1:${broker.port}`, messages, nodes);
    let stored = 0;
    const deadline = Date.now() + 300_000;
    while (stored < messages && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      stored = await points(influx, db, "mqtt").catch(() => stored);
    }
    const rate = stored / ((performance.now() - started) / 1000);
    const gatewayS = cpuSeconds(pid) - gateway0;
    const mainUs = (cpuSeconds(pid, pid) - main0) / messages * 1e6;
    // The counter is idle once it has every message: reading it later adds nothing.
    const received = counter
      ? await Promise.race([
        counter.received,
        new Promise<number>((r) => setTimeout(() => r(-1), Math.max(0, deadline - Date.now()))),
      ])
      : 0;
    const mqttjsS = counter ? cpuSeconds(counter.pid) - counter0 : 0;
    await counter?.stop();
    const mqttjsReceived = received >= 0 ? received : await counter!.received;
    const cpu: CpuFigures = {
      mainUs,
      gatewayUs: gatewayS / Math.max(1, stored) * 1e6,
      gatewayS,
      mqttjsUs: counter ? mqttjsS / Math.max(1, mqttjsReceived) * 1e6 : null,
      mqttjsReceived,
    };
    if (profile) {
      const file = `${PROFILE_DIR}/gateway-${nodes}.cpuprofile`;
      const top = await profile.stop(file);
      console.log(`${file} (the profiler slows the gateway); most self time:\n${top.join("\n")}`);
    }
    await publisher.status;
    return { rate, stored, rss: gw.peakRssMiB(), cpu };
  } finally {
    await counter?.stop().catch(() => {});
    await gw.stop();
    await broker.stop();
    await Deno.remove(gw.dir, { recursive: true });
  }
}

/** Prints the CPU line of an end-to-end run: the gateway's per point, mqtt.js alone's per message. */
function reportCpu(cpu: CpuFigures, run: { stored: number; nodes: number }): void {
  const alone = cpu.mqttjsUs === null
    ? "mqtt.js alone not run (BENCH_E2E_COUNTER=0)"
    : `mqtt.js alone ${cpu.mqttjsUs.toFixed(1)} us per received message (${cpu.mqttjsReceived} ` +
      `received, its own process, same broker, same run): the gateway costs ${
        (cpu.gatewayUs / cpu.mqttjsUs).toFixed(1)
      }x mqtt.js alone`;
  report(
    `  CPU per point, whole gateway process`,
    `${cpu.gatewayUs.toFixed(1)} us/point`,
    `all threads, ${
      cpu.gatewayS.toFixed(2)
    } s CPU for ${run.stored} points delivered, ${run.nodes} ` +
      `nodes; ${alone}`,
  );
}

/** Runs the end-to-end benchmark on 4 and 200 nodes. */
export async function benchMqttInflux(): Promise<void> {
  for (const nodes of [4, 200]) {
    const influx = await startInfluxd();
    try {
      const top = await ceiling(influx, nodes);
      const ceilingRun = await subscriberCeiling(nodes);
      const subscriber = ceilingRun.rate;
      report(
        `influxd alone (5000-line gzip batches)`,
        `${Math.round(top)} points/s`,
        `${MESSAGES} points, ${nodes} series`,
      );
      report(
        `mosquitto -> mqtt.js doing nothing`,
        `${Math.round(subscriber)} msgs/s`,
        `${MESSAGES} QoS 1 messages, ${nodes} nodes, ${
          (100 * subscriber / top).toFixed(0)
        }% of influxd alone: the most a gateway on mqtt.js can take here; all ${navigator.hardwareConcurrency} cores ${
          (100 * ceilingRun.busy).toFixed(0)
        }% busy meanwhile`,
      );
      if (nodes === 4) {
        record("influxd_points_s", top);
        record("mqttjs_msgs_s", subscriber);
      }
      // The default (everything on one thread), the sink in a Worker, and the subscription
      // shared over one connection per core, each in a Worker, with the sink in one too.
      const cores = navigator.hardwareConcurrency;
      const modes = [
        { workers: false, connections: 1, label: "" },
        { workers: true, connections: 1, label: " (sink Worker)" },
        { workers: true, connections: cores, label: ` (${cores} connections + sink Workers)` },
      ];
      for (const mode of modes) {
        const e2e = await endToEnd(influx, nodes, mode);
        if (nodes === 4 && !mode.workers) record("e2e_points_s", e2e.rate);
        if (nodes === 4 && mode.connections > 1) record("e2e_n_ratio", e2e.rate / subscriber);
        report(
          `mosquitto -> gateway -> influxd${mode.label}`,
          `${Math.round(e2e.rate)} points/s`,
          `${e2e.stored} of ${MESSAGES} QoS 1 messages stored as distinct points, ${nodes} nodes, ` +
            `${(100 * e2e.rate / top).toFixed(0)}% of influxd alone, ${
              (100 * e2e.rate / subscriber).toFixed(0)
            }% of mqtt.js alone, gateway RSS max ${e2e.rss.toFixed(0)} MiB, main thread ${
              e2e.cpu.mainUs.toFixed(1)
            } us/message`,
        );
        reportCpu(e2e.cpu, { stored: e2e.stored, nodes });
        if (mode.connections > 1) {
          // On 4 cores with the broker and the database elsewhere, the main thread (storing)
          // has a core and two connections' Workers (mqtt.js parsing) have one each; the sink's
          // Worker shares. The rate is then bounded by the slower of the two.
          const expected = Math.min(1e6 / e2e.cpu.mainUs, 2 * subscriber);
          report(
            `  expected on 4 cores`,
            `${Math.round(expected)} msgs/s`,
            `min(1 / the main thread's ${
              e2e.cpu.mainUs.toFixed(1)
            } us per message, 2 connections x ${Math.round(subscriber)} msgs/s of mqtt.js alone): ${
              (expected / subscriber).toFixed(1)
            }x mqtt.js alone here`,
          );
        }
      }
      if (nodes === 4) {
        // The memory figure: the default gateway's peak RSS under a 60,000-message burst.
        const burst = await endToEnd(influx, nodes, {
          workers: false,
          connections: 1,
          messages: BURST_MESSAGES,
        });
        record("burst_rss_mib", burst.rss);
        report(
          `gateway RSS under a ${BURST_MESSAGES}-message burst`,
          `${burst.rss.toFixed(0)} MiB max`,
          `mosquitto -> gateway -> influxd as above, ${nodes} nodes, ${
            Math.round(burst.rate)
          } points/s`,
        );
        reportCpu(burst.cpu, { stored: burst.stored, nodes });
      }
    } finally {
      await influx.stop();
    }
  }
}

if (import.meta.main) {
  console.log(
    `machine: ${machine()}, load average ${Deno.loadavg().map((l) => l.toFixed(1)).join(" ")}`,
  );
  await benchMqttInflux();
}
