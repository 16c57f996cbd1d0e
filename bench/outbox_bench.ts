/** Durable append and replay rates, and delivery into the real influxd 1.x. */
import { configureLog } from "../src/log.ts";
import type { BatchWriter } from "../src/delivery/mod.ts";
import type { Envelope } from "../src/model.ts";
import { deliveryFor } from "../tests/helpers/delivery.ts";
import { influxQuery, startInfluxd } from "../tests/helpers/servers.ts";
import { record } from "./summary.ts";
import { report, seconds } from "./util.ts";
import { createLogger } from "../src/log.ts";
import { Outbox } from "../src/outbox/outbox.ts";
import { ComponentStatus } from "../src/status.ts";
import { deserialize, serialize } from "node:v8";

const T0 = Date.UTC(2026, 0, 1);

function batch(from: number, n: number): Envelope[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "sample",
    data: {
      source: "bench",
      node: `node${(from + i) % 100}`,
      ts: T0 + from + i,
      fields: { V: 12.8, I: -3.2, P: -41, SOC: 87.6, CE: -12.3, TTG: 1234, VS: 12.7, AR: 0 },
    },
  }));
}

/**
 * influxd alone on the drain's own lines: the same 300,000 records made into the sink's
 * gzipped line protocol beforehand, then posted one batch after another, as fast as it answers.
 */
async function influxdAlone(port: number): Promise<number> {
  const d = await deliveryFor({
    type: "influxdb",
    url: `http://127.0.0.1:${port}`,
    database: "bench_alone",
    create_database: true,
  });
  const writer = d.delivery.options.batches as BatchWriter;
  const sink = writer.options.sink as { prepare(b: Envelope[]): Promise<unknown> };
  const total = 300_000;
  const bodies: Uint8Array[] = [];
  for (let i = 0; i < total; i += 5000) {
    bodies.push((await sink.prepare(batch(i, 5000)) as { gzipped: Uint8Array }).gzipped);
  }
  await d.close();
  await fetch(`http://127.0.0.1:${port}/query?q=CREATE+DATABASE+bench_alone`, { method: "POST" });
  const t = await seconds(async () => {
    for (const body of bodies) {
      const res = await fetch(`http://127.0.0.1:${port}/write?db=bench_alone&precision=u`, {
        method: "POST",
        headers: { "Content-Encoding": "gzip" },
        body: body as BodyInit,
      });
      await res.body?.cancel();
      if (res.status !== 204) throw new Error(`influxd answered ${res.status}`);
    }
  });
  report(
    "influxd alone (the drain's lines, prebuilt)",
    `${Math.round(total / t)} lines/s`,
    `${total} lines of 8 fields, gzip batches of 5000 posted one after another`,
  );
  return total / t;
}

/**
 * The encodings a record could rest in (the outbox's payload column), each way round: JSON text
 * (what it stores), V8's serializer (node:v8), and a structured clone (what a Worker's message costs).
 */
function encodings(): void {
  const records = batch(0, 100_000).map((e) => e.data);
  const ways: [string, (r: unknown) => unknown, (x: unknown) => unknown, (x: unknown) => number][] =
    [
      [
        "JSON text",
        (r) => JSON.stringify(r),
        (x) => JSON.parse(x as string),
        (x) => (x as string).length,
      ],
      [
        "node:v8 serialize",
        (r) => serialize(r),
        (x) => deserialize(x as Uint8Array),
        (x) => (x as Uint8Array).length,
      ],
      ["structured clone", (r) => structuredClone(r), (x) => x, () => NaN],
    ];
  for (const [name, encode, decode, size] of ways) {
    let encoded: unknown[] = [];
    for (let pass = 0; pass < 2; pass++) encoded = records.map(encode); // the second pass is timed
    const te = performance.now();
    encoded = records.map(encode);
    const encodeUs = (performance.now() - te) * 1000 / records.length;
    const td = performance.now();
    for (const x of encoded) decode(x);
    const decodeUs = (performance.now() - td) * 1000 / records.length;
    const bytes = size(encoded[0]);
    report(
      `record encoding: ${name}`,
      `${(encodeUs + decodeUs).toFixed(2)} us`,
      `per record, encode ${encodeUs.toFixed(2)} + decode ${decodeUs.toFixed(2)}` +
        (Number.isNaN(bytes) ? "" : `, ${bytes} bytes`) +
        ` (${records.length} samples of 8 fields)`,
    );
  }
}

/** Runs the outbox benchmarks. */
export async function benchOutbox(): Promise<void> {
  configureLog({ level: "error" });
  encodings();
  for (const sync of ["full", "normal"] as const) {
    const dir = await Deno.makeTempDir({ prefix: "outbox-bench-" });
    const ob = new Outbox({
      maxDeadLetterBytes: 16 * 1024 * 1024,
      path: `${dir}/outbox.db`,
      maxBytes: 2 * 1024 ** 3,
      maxAgeMs: 0,
      onFull: "drop_oldest",
      sync,
      log: createLogger("bench"),
    });
    ob.open();
    ob.register("a", { kinds: ["sample"], nodes: [], status: new ComponentStatus("a", "bench") });
    const total = 300_000;
    const batches = Array.from({ length: total / 1000 }, (_, i) => batch(i * 1000, 1000));
    const t = await seconds(() => {
      for (const b of batches) ob.append(b);
    });
    report(
      `outbox append (sync=${sync})`,
      `${Math.round(total / t)} rec/s`,
      `${total} records, batches of 1000, one commit each`,
    );
    let read = 0;
    const tr = await seconds(() => {
      for (;;) {
        const rows = ob.read("a", 1000, { maxBytes: 8 * 1024 ** 2 }); // as deliveries read
        if (rows.length === 0) break;
        read += rows.length;
        ob.ack("a", rows[rows.length - 1].id);
      }
    });
    report(
      `outbox replay (sync=${sync})`,
      `${Math.round(read / tr)} rec/s`,
      `read + ack + delete, batches of 1000`,
    );
    ob.close();
    await Deno.remove(dir, { recursive: true });
  }

  const influx = await startInfluxd();
  try {
    // The default (main thread, two batches in flight) with and without gzip, and the sink in
    // a Worker (gateway.delivery_workers: the same batch writer, two in flight there too).
    const modes = [[false, false], [true, false], [true, true]] as const;
    for (const [gzip, workers] of modes) {
      const db = `bench_${gzip ? "gzip" : "plain"}_${workers ? "worker" : "main"}`;
      const d = await deliveryFor({
        type: "influxdb",
        url: `http://127.0.0.1:${influx.port}`,
        database: db,
        create_database: true,
        batch_size: 5000,
        max_wait: "10ms",
        gzip,
      }, { workers });
      const total = 300_000;
      for (let i = 0; i < total; i += 5000) d.append(batch(i, 5000));
      const t = await seconds(async () => {
        d.delivery.start();
        while (d.outbox.bytes > 0) await new Promise((r) => setTimeout(r, 20));
      });
      const series = await influxQuery(influx.port, { db, q: 'SELECT count("V") FROM "bench"' });
      const stored = series.reduce((n, s) => n + Number(s.values[0][1]), 0);
      // The end-to-end path sends gzip from the main thread by default: that drain is the one
      // compared with influxd alone.
      if (gzip && !workers) record("drain_lines_s", total / t);
      report(
        `outbox -> influxd 1.6 delivery (gzip ${gzip})`,
        `${Math.round(total / t)} lines/s`,
        `${total} lines of 8 fields (${stored} stored), batches of 5000, ${
          workers ? "the sink in a Worker, two in flight" : "main thread, two in flight"
        }`,
      );
      await d.close();
    }
    record("drain_ceiling_lines_s", await influxdAlone(influx.port));
  } finally {
    await influx.stop();
  }
}

if (import.meta.main) await benchOutbox();
