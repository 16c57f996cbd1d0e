/** An InfluxDB nobody answers for: the sink is down with its error at start, not "starting". */
import assert from "node:assert/strict";
import { configureLog } from "../../../src/log.ts";
import { deliveryFor } from "../../helpers/delivery.ts";
import { influxQuery, startInfluxd, waitFor } from "../../helpers/servers.ts";

configureLog({ level: "error" });

Deno.test("an unreachable InfluxDB is down with last_error before any record; up once it answers", async () => {
  const influx = await startInfluxd();
  await influx.kill(); // its port is known, nobody answers there
  // Windows only: nothing to send for a minute, which left it "starting" without an error.
  const d = await deliveryFor({
    type: "influxdb",
    url: `http://127.0.0.1:${influx.port}`,
    database: "gw",
    forward: ["window"],
    backoff_min: "100ms",
    backoff_max: "300ms",
  });
  d.delivery.start();
  try {
    await waitFor(() => d.status.state !== "starting", { what: "a state after the first attempt" });
    assert.equal(d.status.state, "down");
    assert.match(
      d.status.lastError?.message ?? "",
      /InfluxDB at http:\/\/127\.0\.0\.1:\d+ unreachable/,
    );
    assert.equal(d.outbox.read("sink", 10).length, 0, "no record was waiting");

    // influxd comes back: the next window is delivered and the sink is up.
    await influx.start();
    const create = `http://127.0.0.1:${influx.port}/query?q=${
      encodeURIComponent("CREATE DATABASE gw")
    }`;
    await (await fetch(create, { method: "POST" })).body?.cancel();
    const start = Date.UTC(2026, 0, 1);
    const stats = { V: { avg: 12.5, min: 12.4, max: 12.6, sum: 750, count: 60 } };
    d.append([{
      kind: "window",
      data: { level: "1m", node: "n1", start, end: start + 60_000, stats },
    }]);
    await waitFor(() => d.status.state === "up", { what: "up" });
    assert.equal(d.status.processed, 1);
    const series = await influxQuery(influx.port, { db: "gw", q: 'SELECT "V_avg" FROM /.*/' });
    assert.equal(series[0]?.values[0]?.[1], 12.5);
  } finally {
    await d.close();
    await influx.stop();
  }
});
