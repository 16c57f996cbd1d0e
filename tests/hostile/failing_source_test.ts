/** A source that cannot start is retried with backoff; the rest of the gateway runs meanwhile. */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { startGateway } from "../helpers/gateway.ts";
import { startMosquitto, waitFor } from "../helpers/servers.ts";

Deno.test("a source whose start fails is started again with backoff once the cause is gone", async () => {
  const broker = await startMosquitto();
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const dir = await Deno.makeTempDir({ prefix: "failing-source-" });
  // Its state file's path is taken by a directory: opening it fails.
  await Deno.mkdir(`${dir}/data/policies-units.db`, { recursive: true });
  const gw = await startGateway((port, data) =>
    `gateway: {id: fail, data_dir: ${data}}
log: {level: error}
http: {port: ${port}}
sources:
  units:
    type: mqtt
    url: "${url}"
    topics: ["u/+"]
    client_id: units
    policies: {default: {processing_policy: {policy_type: NRecords, n_records_count: 10}}}
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
`, { dir });
  const pub = await mqtt.connectAsync(url);
  try {
    await waitFor(
      async () => ((await gw.status()).sources.units.counters.start_failures ?? 0) >= 2,
      {
        what: "two failed starts",
      },
    );
    const h = await gw.health();
    assert.equal(h.body.components["mqtt.units"], "down");
    assert.equal(h.body.components["vedirect.mppt1"], "up", "other sources run meanwhile");
    await Deno.remove(`${dir}/data/policies-units.db`, { recursive: true });
    await waitFor(async () => (await gw.health()).body.components["mqtt.units"] === "up", {
      what: "the source up after the cause went",
    });
    await pub.publishAsync("u/a", "21.5", { qos: 1 });
    await waitFor(async () => (await gw.status()).sources.units.processed === 1, {
      what: "a message through the restarted source",
    });
  } finally {
    await pub.endAsync();
    await gw.stop();
    await broker.stop();
  }
});
