/** MQTT messages/s from the real mosquitto through the MQTT source into the pipeline (store + outbox). */
import { Agent } from "../src/agent.ts";
import { parseConfig } from "../src/config/load.ts";
import { gatewaySchema } from "../src/config/schema.ts";
import { configureLog } from "../src/log.ts";
import { freePort, startMosquitto } from "../tests/helpers/servers.ts";
import { spawnPublisher } from "../tests/helpers/publisher.ts";
import { report } from "./util.ts";

/** Runs the MQTT source benchmark in both acknowledgement modes. */
export async function benchMqtt(): Promise<void> {
  configureLog({ level: "error" });
  for (const ack of ["receipt", "commit"] as const) {
    await run(ack, ack === "commit" ? 20_000 : 100_000);
  }
}

async function run(ack: "commit" | "receipt", count: number): Promise<void> {
  let total = count;
  // A slow subscriber must not lose QoS 1 messages to the broker's queue limit.
  const broker = await startMosquitto({
    config: "max_queued_messages 0\nmax_inflight_messages 0\n",
  });
  const dir = await Deno.makeTempDir({ prefix: "mqtt-bench-" });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const agent = new Agent(parseConfig(
    `gateway: {id: bench, data_dir: ${dir}}
http: {port: ${freePort()}}
outbox: {sync: full}
sources:
  units: {type: mqtt, url: "${url}", topics: ["pepeunit/+/pepeunit"], qos: 1, ack: ${ack}}
sinks:
  later: {type: influxdb, url: "http://127.0.0.1:9", database: d, backoff_min: 10s}
`,
    gatewaySchema,
  ));
  await agent.start();
  const status = agent.sources.get("units")!.status;
  // The publisher runs in its own process: sharing the gateway's event loop would halve both.
  const publisher = spawnPublisher(url, total, 200);
  while (status.processed === 0) await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  const deadline = Date.now() + 120_000;
  while (status.processed < total && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  await publisher.status;
  total = status.processed;
  const s = (performance.now() - t0) / 1000;
  report(
    `mqtt source -> store + outbox (ack ${ack})`,
    `${Math.round(total / s)} msgs/s`,
    `${total} QoS 1 messages from mosquitto (publisher process), 200 nodes, outbox sync: full`,
  );
  await agent.stop();
  await broker.stop();
  await Deno.remove(dir, { recursive: true });
}

if (import.meta.main) await benchMqtt();
