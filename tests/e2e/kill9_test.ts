/**
 * kill -9 at random moments during sustained ingest, with InfluxDB flapping,
 * 20 times: every sample whose hand-over had completed (HTTP 200 from /ingest,
 * sent only after the outbox commit) is in InfluxDB after the last restart.
 */
import assert from "node:assert/strict";
import { spawnGateway } from "../helpers/cli.ts";
import { freePort, influxQuery, startInfluxd, waitFor } from "../helpers/servers.ts";

const ROUNDS = 20;
const TOKEN = "kill9-token";
const T0 = Date.UTC(2026, 0, 1);

// Deterministic "random" moments, so a failing run can be replayed.
let seed = 20261123;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}

Deno.test("kill -9 during ingest with a flapping sink, 20 times (every other one with the sink in a Worker): nothing acknowledged is lost", async () => {
  const influx = await startInfluxd();
  const dir = await Deno.makeTempDir({ prefix: "kill9-" });
  const port = freePort();
  const configFile = `${dir}/gateway.yml`;
  // Every other round the InfluxDB sink runs in a Worker (gateway.delivery_workers).
  const writeConfig = (workers: boolean) =>
    Deno.writeTextFile(
      configFile,
      `gateway: {id: k9, data_dir: ${dir}/data, delivery_workers: ${workers}}
log: {level: error}
http: {port: ${port}, token: ${TOKEN}}
sinks:
  influx:
    type: influxdb
    url: http://127.0.0.1:${influx.port}
    database: k9
    create_database: true
    batch_size: 500
    max_wait: 50ms
    backoff_min: 50ms
    backoff_max: 300ms
    timeout: 2s
`,
    );
  const acked: number[] = [];
  let seq = 0;
  const url = `http://127.0.0.1:${port}`;

  async function ingestUntilKilled(signal: AbortSignal) {
    while (!signal.aborted) {
      const batch = Array.from({ length: 50 }, () => {
        const s = seq++;
        return { node: "k9", ts: T0 + s, fields: { seq: s } };
      });
      try {
        const res = await fetch(`${url}/ingest`, {
          method: "POST",
          headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
          body: JSON.stringify(batch),
        });
        await res.body?.cancel();
        if (res.status === 200) { for (const b of batch) acked.push(b.fields.seq); }
      } catch {
        return; // the gateway died mid-request: this batch was not acknowledged
      }
    }
  }

  try {
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 3 === 1) await influx.kill(); // the uplink flaps
      if (round % 3 === 2 && !influx.running) await influx.start();
      await writeConfig(round % 2 === 0);
      const child = spawnGateway(configFile);
      await waitFor(async () => (await fetch(`${url}/health`)).status === 200, {
        what: `gateway up (round ${round})`,
      });
      const abort = new AbortController();
      const ackedBefore = acked.length;
      const ingest = ingestUntilKilled(abort.signal);
      await new Promise((r) => setTimeout(r, 200 + random() * 800));
      // Killed while busy: a gateway slow to take its first batch (a loaded machine) gets it.
      await waitFor(() => acked.length > ackedBefore, {
        what: `a batch acknowledged in round ${round}`,
        intervalMs: 5,
      });
      child.kill("SIGKILL");
      await child.status;
      abort.abort();
      await ingest;
      await child.stderr.cancel();
    }
    if (!influx.running) await influx.start();
    await writeConfig(true);
    const child = spawnGateway(configFile);
    try {
      // Wait for every acknowledged sample itself: a count is not enough, since samples committed
      // by a gateway killed before it answered are there too (delivered, never acknowledged).
      let missing: number[] = acked;
      await waitFor(async () => {
        const rows = await influxQuery(influx.port, { db: "k9", q: 'SELECT "seq" FROM "http"' });
        const stored = new Set((rows[0]?.values ?? []).map((v) => Number(v[1])));
        missing = acked.filter((s) => !stored.has(s));
        return missing.length === 0;
      }, { what: `${acked.length} acknowledged samples in InfluxDB`, timeoutMs: 60_000 }).catch(
        () => {},
      );
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged samples missing`);
      // Enough load: every round took batches (a count in fixed time would be a rate).
      assert.ok(acked.length >= ROUNDS * 50, `${acked.length} samples acknowledged`);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stderr.cancel();
    }
  } finally {
    await influx.stop();
  }
});
