/**
 * Attacks 6 and 8: damaged files. A damaged store used to stop start-up (so an
 * intact outbox never drained), and a damaged outbox was set aside whole.
 */
import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway.ts";
import { freePort, influxQuery, startInfluxd, waitFor } from "../helpers/servers.ts";

const TOKEN = "hostile-files";
const T0 = Date.UTC(2026, 0, 1);

/** Overwrites part of a page in the middle of a SQLite file. */
function damage(path: string): void {
  const bytes = Deno.readFileSync(path);
  const page = 4096 * Math.floor(bytes.length / 4096 / 2);
  bytes.fill(0xa5, page + 8, page + 600);
  Deno.writeFileSync(path, bytes);
}

Deno.test("damaged store and outbox files: start-up goes on, readable records are delivered, the rest counted", async () => {
  const influx = await startInfluxd();
  const yaml = (influxPort: number) => (port: number, data: string) =>
    `gateway: {id: files, data_dir: ${data}}
log: {level: error}
http: {port: ${port}, token: ${TOKEN}}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${influxPort}", database: files, create_database: true, backoff_max: 500ms}
`;
  // First run: the uplink is down, 2000 samples wait in the outbox.
  let gw = await startGateway(yaml(freePort()));
  try {
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${gw.url}/ingest`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(
          Array.from({ length: 100 }, (_, j) => ({
            node: `n${j % 5}`,
            ts: T0 + (i * 100 + j) * 1000,
            fields: { seq: i * 100 + j, pad: "x".repeat(100) },
          })),
        ),
      });
      assert.equal(res.status, 200);
    }
  } finally {
    await gw.stop();
  }
  damage(`${gw.dir}/data/outbox.db`);
  damage(`${gw.dir}/data/store.db`);
  try {
    gw = await startGateway(yaml(influx.port), { dir: gw.dir });
    assert.equal((await gw.health()).code, 200);
    const s = await gw.status();
    const { salvaged, lost } = s.outbox.recovered as { salvaged: number; lost: number };
    console.log(`outbox: ${salvaged} records salvaged, ${lost} lost with the damaged page`);
    assert.match((s.store.recovered as { moved_to: string }).moved_to, /store\.db\.corrupt-/);
    assert.equal(salvaged + lost, 2000);
    assert.ok(salvaged > 1800, `salvaged ${salvaged}`);
    assert.equal(s.outbox.dropped.damaged_file ?? 0, lost);
    // Every salvaged record reaches InfluxDB.
    await waitFor(async () => {
      const r = await influxQuery(influx.port, {
        db: "files",
        q: 'SELECT count("seq") FROM "http"',
      });
      return Number(r[0]?.values[0]?.[1] ?? 0) === salvaged;
    }, { what: `${salvaged} points in InfluxDB` });
    // And the gateway takes new data as usual.
    const res = await fetch(`${gw.url}/ingest`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ node: "after", fields: { seq: -1 } }),
    });
    assert.equal(res.status, 200);
  } finally {
    await gw.stop();
    await influx.stop();
  }
});
