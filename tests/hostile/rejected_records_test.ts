/**
 * Attack 7: records the upstream refuses. One bad record used to send its whole
 * batch to dead_letters, which grew outside the outbox bound (123 MB against
 * 2 MiB) while the good points had been written anyway.
 */
import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway.ts";
import { influxQuery, startInfluxd, waitFor } from "../helpers/servers.ts";

const TOKEN = "hostile-rejected";
const T0 = Date.UTC(2026, 0, 1);

Deno.test("one refused record per batch: only it is dead-lettered, within the bound; list, replay and purge work", async () => {
  const influx = await startInfluxd();
  const gw = await startGateway((port, data) =>
    `gateway: {id: rej, data_dir: ${data}}
log: {level: error}
http: {port: ${port}, token: ${TOKEN}}
outbox: {max_bytes: 2MiB, max_dead_letters: 32KiB}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: rej, create_database: true, batch_size: 100, max_wait: 20ms}
`
  );
  const auth = { Authorization: `Bearer ${TOKEN}` };
  const post = (path: string, body?: unknown) =>
    fetch(`${gw.url}${path}`, { method: "POST", headers: auth, body: JSON.stringify(body ?? {}) });
  try {
    // The field `v` is a number first; afterwards one record per batch sends it as text
    // (InfluxDB: field type conflict), padded so that dead letters would pass their bound.
    let sent = 0;
    for (let b = 0; b < 60; b++) {
      const batch = Array.from({ length: 100 }, (_, j) => {
        const seq = b * 100 + j;
        const bad = b > 0 && j === 50;
        return {
          node: "n",
          ts: T0 + seq,
          fields: bad ? { v: `text ${"x".repeat(1000)}` } : { v: seq },
        };
      });
      assert.equal((await post("/ingest", batch)).status, 200);
      sent += 99;
    }
    await waitFor(async () => {
      const r = await influxQuery(influx.port, { db: "rej", q: 'SELECT count("v") FROM "http"' });
      return Number(r[0]?.values[0]?.[1] ?? 0) >= sent + 1;
    }, { what: "every good point in InfluxDB", timeoutMs: 60_000 });
    await waitFor(async () => (await gw.status()).sinks.influx.counters.dead_lettered === 59, {
      what: "the 59 refused records set aside",
    });
    const s = await gw.status();
    const letters = s.outbox.dead_letter_bytes as number;
    console.log(
      `dead letters: ${letters} bytes, sink counters ${JSON.stringify(s.sinks.influx.counters)}`,
    );
    assert.ok(letters <= 32 * 1024, `dead letters ${letters} bytes`);
    assert.ok((s.outbox.bytes as number) <= 2 * 1024 * 1024);
    assert.ok(
      (s.sinks.influx.dropped.dead_letters_dropped ?? 0) > 0,
      "the oldest went beyond the bound",
    );
    // The API lists them with InfluxDB's message (a token is needed).
    assert.equal((await fetch(`${gw.url}/dead-letters`)).status, 401);
    const listed =
      await (await fetch(`${gw.url}/dead-letters?sink=influx&limit=5`, { headers: auth }))
        .json();
    assert.equal(listed.dead_letters.length, 5);
    assert.match(listed.dead_letters[0].error, /field type conflict/);
    // The cause is fixed (the measurement dropped): a replay delivers them.
    await fetch(`http://127.0.0.1:${influx.port}/query?db=rej&q=DROP+MEASUREMENT+%22http%22`, {
      method: "POST",
    });
    const replay = await (await post("/dead-letters/replay?sink=influx")).json();
    assert.ok(replay.replayed > 0, JSON.stringify(replay));
    assert.equal(replay.refused, 0);
    const after = await (await fetch(`${gw.url}/dead-letters?sink=influx`, { headers: auth }))
      .json();
    assert.equal(after.dead_letters.length, 0);
    // Purge empties them (nothing left here, so it says 0) and the gateway keeps serving.
    assert.equal((await (await post("/dead-letters/purge?sink=influx")).json()).purged, 0);
    assert.equal((await gw.health()).code, 200);
  } finally {
    await gw.stop();
    await influx.stop();
  }
});
