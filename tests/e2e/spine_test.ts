/** Serial bytes -> parser -> store -> window -> outbox -> InfluxDB, with real ptys and influxd. */
import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { simulateToPort } from "../../src/cli/simulate.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { shiftedClock } from "../../src/util/clock.ts";
import { PtyPair } from "../helpers/pty.ts";
import { freePort, influxQuery, startInfluxd, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

Deno.test("a simulated Victron on a serial port reaches InfluxDB as samples and 1m windows", async () => {
  const influx = await startInfluxd();
  const pty = await PtyPair.create();
  const dataDir = await Deno.makeTempDir();
  const config = parseConfig(
    `gateway: {id: roof, data_dir: ${dataDir}}
http: {port: ${freePort()}}
sources:
  mppt1: {type: vedirect, port: ${pty.device}, gap: 80ms}
sinks:
  influx:
    type: influxdb
    url: http://127.0.0.1:${influx.port}
    database: solar
    create_database: true
    forward: [sample, window]
    max_wait: 100ms
`,
    gatewaySchema,
  );
  // The gateway's minute starts a second after the test does: every sample of the test falls in
  // one minute whatever the second of the run, and that minute's window is closed below.
  const clock = shiftedClock(Math.ceil(Date.now() / 60_000) * 60_000 + 1000);
  const agent = new Agent(config, { clock });
  await agent.start();
  const abort = new AbortController();
  const device = simulateToPort(pty.peer, {
    device: "mppt",
    intervalMs: 150,
    count: 0,
    signal: abort.signal,
  });
  try {
    await waitFor(async () => {
      const s = await influxQuery(influx.port, {
        db: "solar",
        q: 'SELECT count("V") FROM "vedirect" WHERE "node" = \'mppt1\'',
      });
      return Number(s[0]?.values[0]?.[1] ?? 0) >= 5;
    }, { what: "samples in InfluxDB" });
    const rows = await influxQuery(influx.port, {
      db: "solar",
      q: 'SELECT "V", "PPV", "CS_text", "gateway", "product", "serial" FROM "vedirect" WHERE "node" = \'mppt1\' LIMIT 1',
    });
    const [, v, , cs, gateway, product, serial] = rows[0].values[0] as unknown[];
    assert.ok(typeof v === "number" && v > 10 && v < 16);
    assert.equal(typeof cs, "string");
    assert.equal(gateway, "roof");
    assert.equal(product, "SmartSolar MPPT 75/15");
    assert.equal(serial, "HQ2132ABCDE");

    // Close the current minute (a clock ahead for the aggregator only) and forward its window.
    const minute = Math.floor(clock.now() / 60_000) * 60_000;
    await agent.aggregateNow(minute + 60_000 + 11_000);
    await agent.control.sync();
    const w = await influxQuery(influx.port, {
      db: "solar",
      q: 'SELECT "V_avg", "V_min", "V_max", "V_count" FROM "vedirect_1m" WHERE "node" = \'mppt1\'',
    });
    assert.equal(w[0]?.values.length, 1);
    const [time, avg, min, max, n] = w[0].values[0] as number[];
    assert.equal(time, minute);
    assert.ok(min <= avg && avg <= max && n >= 1);
    const stored = await agent.control.query({ node: "mppt1", from: minute, to: minute + 60_000 });
    // Samples keep arriving after the (early, fake-clock) aggregation, never fewer.
    assert.ok(n <= stored.length, "the window counts stored seconds of the minute");
  } finally {
    abort.abort();
    await device.catch(() => 0);
    await agent.stop();
    await pty.unplug();
    await influx.stop();
  }
});
