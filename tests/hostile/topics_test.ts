/**
 * Attack 2: hundreds of thousands of distinct topics (one-byte payloads). Memory
 * used to grow with every node (per-node maps, /status), and the next start on
 * the same data dir died loading every node.
 */
import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway.ts";
import { spawnPublisher } from "../helpers/publisher.ts";
import { startMosquitto, waitFor } from "../helpers/servers.ts";

const EACH = 250_000;

Deno.test("500,000 distinct topics: memory stays bounded, good traffic is stored, a restart comes up at once", async () => {
  const broker = await startMosquitto({
    config: "max_queued_messages 0\nmax_inflight_messages 0\n",
  });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const yaml = (port: number, data: string) =>
    `gateway: {id: flood, data_dir: ${data}}
log: {level: error}
http: {port: ${port}}
sources:
  plain: {type: mqtt, url: "${url}", topics: ["flood/+/a"], client_id: plain}
  policed:
    type: mqtt
    url: "${url}"
    topics: ["flood/+/b"]
    client_id: policed
    policies: {default: {processing_policy: {policy_type: LastValue, write_interval: 1h}}}
  good: {type: mqtt, url: "${url}", topics: ["good/+"], client_id: good}
`;
  let gw = await startGateway(yaml);
  try {
    const floods = [
      spawnPublisher(url, EACH, EACH, { topic: "flood/{node}/a" }),
      spawnPublisher(url, EACH, EACH, { topic: "flood/{node}/b" }),
    ];
    const good = spawnPublisher(url, 1000, 2, { topic: "good/{node}" });
    await Promise.all([...floods, good].map((p) => p.status));
    await waitFor(async () => {
      const s = await gw.status();
      // Each source on its own: a sum let one source's surplus hide the other's lag.
      return s.sources.plain.processed >= EACH && s.sources.policed.processed >= EACH &&
        s.sources.good.processed >= 1000;
    }, { what: "every message taken", timeoutMs: 300_000, intervalMs: 500 }).catch(async (e) => {
      const s = await gw.status();
      const figures = (c: { processed: number; counters: unknown; dropped: unknown }) =>
        JSON.stringify({ processed: c.processed, counters: c.counters, dropped: c.dropped });
      throw new Error(
        `${e.message}: plain ${figures(s.sources.plain)}, policed ${
          figures(s.sources.policed)
        }, good ${figures(s.sources.good)}`,
      );
    });
    const s = await gw.status();
    assert.equal(s.sources.good.processed, 1000, "good traffic alongside");
    assert.equal(s.sources.plain.nodes_tracked, 10_000, "figures of the newest 10000 nodes");
    assert.ok(
      // The LRU forgets nodes by the hundred thousand. Not to the node: CI saw 239,999 with
      // 250,001 messages in two runs (a QoS 1 redelivery counts as a message of a node it knows).
      s.sources.plain.counters.nodes_evicted >= EACH - 10_000 - 100,
      JSON.stringify({ plain: s.sources.plain.counters, policed: s.sources.policed.counters }),
    );
    assert.ok(Object.keys(s.sources.plain.nodes as object).length <= 100, "/status lists 100");
    assert.equal((await gw.health()).code, 200);
    const stored =
      await (await fetch(`${gw.url}/query?node=00000000-0000-4000-8000-000000000000&from=0`))
        .json();
    assert.ok(stored.points.length >= 1, "a flooded node's sample is in the store");
    console.log(`RSS max ${gw.peakRssMiB().toFixed(0)} MiB during 500,000 distinct topics`);
    // 242-249 MiB measured (docs/architecture.md, group commit: a minute's aggregation read every
    // node's blocks at once, 258-323 MiB or a crash at the heap limit before).
    assert.ok(gw.peakRssMiB() < 300, `RSS ${gw.peakRssMiB().toFixed(0)} MiB`);
  } finally {
    await gw.stop();
  }
  try {
    // The data dir now holds 250,000 nodes in the store and 250,000 policy states.
    const started = performance.now();
    gw = await startGateway(yaml, { dir: gw.dir });
    await waitFor(async () => (await gw.health()).code === 200, { what: "restart" });
    const took = performance.now() - started;
    console.log(`restart on the flooded data dir: ${took.toFixed(0)} ms to /health`);
    // It comes up without loading every node (that start used to die): memory stays small.
    assert.ok(gw.rssMiB() < 200, `RSS after the restart ${gw.rssMiB().toFixed(0)} MiB`);
  } finally {
    await gw.stop();
    await broker.stop();
  }
});
