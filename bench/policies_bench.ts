/**
 * MQTT messages/s through per-node storage policies: a publisher process sends
 * QoS 1 messages to the real mosquitto; the gateway runs each node's policy and
 * commits the rows to the outbox, while the ClickHouse sink (real 18.16) drains it.
 */
import { Agent } from "../src/agent.ts";
import { parseConfig } from "../src/config/load.ts";
import { gatewaySchema } from "../src/config/schema.ts";
import { configureLog } from "../src/log.ts";
import { startClickHouse, startMosquitto } from "../tests/helpers/servers.ts";
import { spawnPublisher } from "../tests/helpers/publisher.ts";
import { report } from "./util.ts";

const KINDS = [
  { policy_type: "NRecords", n_records_count: 100 },
  { policy_type: "TimeWindow", time_window_size: 3600 },
  { policy_type: "Aggregation", time_window_size: 60, aggregation_functions: ["Avg", "Max"] },
  { policy_type: "LastValue", write_interval: "5s" },
];

/** Runs the policies benchmark. */
export async function benchPolicies(
  options: { count?: number; nodes?: number } = {},
): Promise<void> {
  configureLog({ level: "error" });
  const count = options.count ?? Number(Deno.env.get("BENCH_POLICY_MESSAGES") ?? 300_000);
  const nodes = options.nodes ?? 200;
  const broker = await startMosquitto({
    config: "max_queued_messages 0\nmax_inflight_messages 0\n",
  });
  const ch = await startClickHouse();
  const dir = await Deno.makeTempDir({ prefix: "policies-bench-" });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const policies: Record<string, unknown> = {};
  for (let i = 0; i < nodes; i++) {
    policies[`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`] = {
      processing_policy: KINDS[i % KINDS.length],
    };
  }
  const config = {
    gateway: { id: "bench", data_dir: dir },
    http: { enabled: false },
    outbox: { sync: "normal" },
    sources: {
      units: {
        type: "mqtt",
        url,
        topics: ["pepeunit/+/pepeunit"],
        qos: 1,
        client_id: "bench-units",
        policies: { nodes: policies },
      },
    },
    sinks: {
      ch: {
        type: "clickhouse",
        url: `http://127.0.0.1:${ch.port}`,
        batch_size: 10_000,
        max_wait: "1s",
        timeout: "30s",
      },
    },
  };
  const agent = new Agent(parseConfig(JSON.stringify(config), gatewaySchema));
  await agent.start();
  const status = agent.sources.get("units")!.status;
  const publisher = spawnPublisher(url, count, nodes);
  while (status.processed === 0) await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  const first = status.processed;
  const deadline = Date.now() + 300_000;
  while (status.processed < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const s = (performance.now() - t0) / 1000;
  await publisher.status;
  const processed = status.processed - first;
  report(
    "mqtt -> policies -> outbox (ack receipt)",
    `${Math.round(processed / s)} msgs/s`,
    `${status.processed} QoS 1 messages from mosquitto, ${nodes} nodes, 4 policy kinds, ` +
      `${agent.outbox.status.processed} rows committed`,
  );
  const t1 = performance.now();
  await agent.control.sync();
  while (agent.outbox.depth("ch").records > 0 && performance.now() - t1 < 120_000) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const rows = await (await fetch(`http://127.0.0.1:${ch.port}/`, {
    method: "POST",
    body: "SELECT (SELECT count() FROM n_last_entry) + (SELECT count() FROM window_entry)",
  })).text();
  report(
    "  ... ClickHouse 18.16 caught up",
    `${((performance.now() - t0) / 1000).toFixed(1)} s`,
    `${rows.trim()} rows in n_last_entry + window_entry (batches of 10000)`,
  );
  await agent.stop();
  await Promise.all([broker.stop(), ch.stop()]);
  await Deno.remove(dir, { recursive: true });
}

if (import.meta.main) await benchPolicies();
