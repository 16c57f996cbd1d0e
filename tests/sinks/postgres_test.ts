/**
 * pepeunit's LastValue in PostgreSQL, on a real server: policies' LastValue rows
 * become units_nodes.state and last_update_datetime by uuid; the latest wins, a
 * replay never goes back in time, an outage waits in the outbox.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { configureLog } from "../../src/log.ts";
import type { Envelope } from "../../src/model.ts";
import { nodeUuid } from "../../src/names.ts";
import { deliveryFor } from "../helpers/delivery.ts";
import { startPostgres } from "../helpers/postgres.ts";
import { waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

const RELAY = "0b6e5d2c-1f3a-4c6e-9a1b-2c3d4e5f6a7b";
const T0 = Date.UTC(2026, 0, 15, 8);

function lastValue(node: string, ts: number, state: string, maxCount = 1): Envelope {
  return {
    kind: "entry",
    data: {
      table: "n_last_entry",
      node,
      ts,
      state,
      state_type: "Text",
      max_count: maxCount,
      size: 2,
    },
  };
}

Deno.test("LastValue rows set units_nodes.state by uuid; the latest wins; outages wait", async () => {
  const pg = await startPostgres();
  const sql = postgres({
    host: "127.0.0.1",
    port: pg.port,
    user: "postgres",
    database: "postgres",
  });
  // The columns pepeunit's backend reads (its units_nodes has more, none that matter here).
  await sql`CREATE TABLE units_nodes (
    uuid UUID PRIMARY KEY, topic_name TEXT NOT NULL, state TEXT,
    last_update_datetime TIMESTAMP NOT NULL)`;
  await sql`INSERT INTO units_nodes VALUES
    (${RELAY}, 'relay/pepeunit', NULL, '2026-01-01 00:00:00'),
    (${nodeUuid("boiler")}, 'boiler/pepeunit', '40', '2026-01-01 00:00:00')`;
  const d = await deliveryFor({
    type: "postgres",
    url: `postgres://postgres@127.0.0.1:${pg.port}/postgres`,
    max_wait: "20ms",
    backoff_min: "50ms",
    backoff_max: "200ms",
    timeout: "2s",
  });
  const row = async (uuid: string) =>
    (await sql`SELECT state, last_update_datetime AS at FROM units_nodes WHERE uuid = ${uuid}`)[0];
  try {
    d.delivery.start();
    d.append([
      lastValue(RELAY, T0, "on"),
      lastValue(RELAY, T0 + 1000, "off"), // the latest of the batch wins
      lastValue("boiler", T0 + 500, "41.50"),
      lastValue(RELAY, T0 + 2000, "ignored", 10), // NRecords rows are ClickHouse's, not here
      lastValue("not-a-pepeunit-node", T0, "x"),
    ]);
    await waitFor(async () => (await row(RELAY)).state === "off", { what: "relay state" });
    assert.equal((await row(RELAY)).at.getTime(), T0 + 1000);
    assert.equal((await row(nodeUuid("boiler"))).state, "41.50");
    await waitFor(() => (d.status.counters.states_not_applied ?? 0) === 1, {
      what: "the unknown node counted",
    });

    // A replay of an older state never goes back in time.
    d.append([lastValue(RELAY, T0 + 500, "on")]);
    await waitFor(() => d.outbox.depth("sink").records === 0, { what: "replay delivered" });
    assert.equal((await row(RELAY)).state, "off");

    // PostgreSQL down: the state waits in the outbox and arrives when it is back.
    await pg.kill();
    d.append([lastValue(RELAY, T0 + 3000, "on")]);
    await waitFor(() => (d.status.counters.retried ?? 0) >= 2, { what: "retries while down" });
    assert.equal(d.outbox.depth("sink").records, 1);
    await pg.start();
    await waitFor(async () => (await row(RELAY).catch(() => ({ state: "" }))).state === "on", {
      what: "the state after the outage",
    });
  } finally {
    await d.close();
    await sql.end({ timeout: 1 });
    await pg.stop();
  }
});
