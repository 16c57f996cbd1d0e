import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { freePort, waitFor } from "../helpers/servers.ts";
import { canMount, withTmpfs } from "../helpers/tmpfs.ts";

configureLog({ level: "error" });

const TOKEN = "t0ken-for-tests";

async function startAgent(extra = "") {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(parseConfig(
    `gateway: {id: http-test, data_dir: ${dir}}
http: {port: ${port}, max_body: 2KiB${extra}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:9", database: d, password: hunter2-secret}
`,
    gatewaySchema,
  ));
  await agent.start();
  return { agent, url: `http://127.0.0.1:${port}` };
}

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const auth = (token = TOKEN) => ({
  Authorization: `Bearer ${token}`,
  "Content-Type": "application/json",
});

Deno.test("health, status and query describe the running gateway without secrets", async () => {
  const { agent, url } = await startAgent(`, token: ${TOKEN}`);
  try {
    await waitFor(() => agent.sources.get("mppt1")!.status.processed >= 3, { what: "samples" });
    const health = await call(`${url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.components["vedirect.mppt1"], "up");
    const status = await call(`${url}/status`);
    assert.equal(status.body.gateway_id, "http-test");
    assert.ok(status.body.sources.mppt1.counters.blocks_ok >= 3);
    assert.equal(status.body.sinks.influx.queue.records >= 0, true);
    const raw = JSON.stringify(status.body);
    assert.doesNotMatch(raw, /hunter2-secret|t0ken-for-tests/);
    const q = await call(`${url}/query?node=mppt1&from=-5m`);
    assert.equal(q.status, 200);
    assert.ok(q.body.points.length >= 1);
    assert.equal(typeof q.body.points[0].fields.V, "number");
    assert.equal((await call(`${url}/query?from=-5m`)).status, 400);
    assert.equal((await call(`${url}/query?node=mppt1&from=yesterday-ish`)).status, 400);
    assert.equal((await call(`${url}/query?node=mppt1&window=7m`)).status, 400);
    assert.equal((await call(`${url}/query?node=mppt1&window=1m`)).status, 200);
  } finally {
    await agent.stop();
  }
});

Deno.test("mutating endpoints: 401 without or with a wrong token, and nothing changes", async () => {
  const { agent, url } = await startAgent(`, token: ${TOKEN}`);
  try {
    const body = JSON.stringify({ node: "x", fields: { v: 1 } });
    assert.equal((await call(`${url}/sync`, { method: "POST" })).status, 401);
    assert.equal((await call(`${url}/ingest`, { method: "POST", body })).status, 401);
    assert.equal(
      (await call(`${url}/ingest`, { method: "POST", body, headers: auth("wrong") })).status,
      401,
    );
    assert.equal((await agent.store.nodes()).includes("x"), false);
    const ok = await call(`${url}/ingest`, { method: "POST", body, headers: auth() });
    assert.deepEqual(ok, { status: 200, body: { accepted: 1 } });
    assert.ok((await agent.store.nodes()).includes("x"));
    const sync = await call(`${url}/sync`, { method: "POST", headers: auth() });
    assert.equal(sync.status, 200);
    assert.ok("influx" in sync.body.sinks);
  } finally {
    await agent.stop();
  }
});

Deno.test("without a configured token, mutating endpoints are refused", async () => {
  const { agent, url } = await startAgent();
  try {
    const r = await call(`${url}/sync`, { method: "POST", headers: auth() });
    assert.equal(r.status, 401);
    assert.match(r.body.error, /set http.token/);
  } finally {
    await agent.stop();
  }
});

Deno.test("bad ingest bodies get 400 with the field path, oversize 413; the gateway keeps serving", async () => {
  const { agent, url } = await startAgent(`, token: ${TOKEN}`);
  try {
    const post = (body: string) => call(`${url}/ingest`, { method: "POST", body, headers: auth() });
    const bad = await post(
      JSON.stringify([{ node: "a", fields: { v: 1 } }, { node: "b", fields: { v: {} } }]),
    );
    assert.equal(bad.status, 400);
    assert.ok(bad.body.details.some((d: string) => d.startsWith("1.fields.v:")), bad.body.details);
    const notJson = await post("{nope");
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.error, /not valid JSON/);
    const missing = await post(JSON.stringify({ fields: { v: 1 } }));
    assert.ok(missing.body.details.some((d: string) => d.startsWith("node:")));
    const big = await post(JSON.stringify({ node: "a", fields: { s: "x".repeat(5000) } }));
    assert.equal(big.status, 413);
    assert.equal((await call(`${url}/health`)).status, 200);
  } finally {
    await agent.stop();
  }
});

Deno.test("disk full: ingest answers 503 with the reason, /health 503, the gateway keeps serving", {
  ignore: !canMount,
}, () =>
  withTmpfs("1m", async (dir) => {
    const port = freePort();
    const agent = new Agent(parseConfig(
      `gateway: {id: full, data_dir: ${dir}}
http: {port: ${port}, token: ${TOKEN}}
outbox: {on_full: reject_new}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:9", database: d, backoff_min: 1s}
`,
      gatewaySchema,
    ));
    await agent.start();
    const url = `http://127.0.0.1:${port}`;
    try {
      let refused: { status: number; body: { reason?: string } } | null = null;
      for (let i = 0; i < 500 && !refused; i++) {
        const body = JSON.stringify(
          Array.from(
            { length: 50 },
            (_, j) => ({ node: "n", ts: i * 50 + j, fields: { pad: "x".repeat(200) } }),
          ),
        );
        const r = await call(`${url}/ingest`, { method: "POST", body, headers: auth() });
        if (r.status !== 200) refused = r;
      }
      assert.ok(refused, "the disk filled up");
      assert.equal(refused.status, 503);
      assert.equal(refused.body.reason, "disk_full");
      const health = await call(`${url}/health`);
      assert.equal(health.status, 503);
      assert.equal(health.body.components.outbox, "down");
      const status = await call(`${url}/status`);
      assert.equal(status.status, 200);
      assert.ok(status.body.outbox.dropped.disk_full > 0);
    } finally {
      await agent.stop();
    }
  }));

Deno.test("DataLake records are accepted, clamped to valid ranges and counted", async () => {
  const { agent, url } = await startAgent(`, token: ${TOKEN}`);
  try {
    const post = (body: unknown) =>
      call(`${url}/ingest`, { method: "POST", body: JSON.stringify(body), headers: auth() });
    const record = {
      equipment_id: "EQ-7",
      facility_id: "F-1",
      equipment_location: "boiler room",
      measured_at: "2026-11-23T04:00:00Z",
      temperature: 512,
      humidity: 40,
      smoke_density: 0.1,
      co_level: 0.02,
      gas_level: -3,
    };
    const ok = await post([record]);
    assert.deepEqual(ok, { status: 200, body: { accepted: 1, clamped: 2 } });
    const q = await call(
      `${url}/query?node=EQ-7&from=2026-11-23T03:59:00Z&to=2026-11-23T04:01:00Z`,
    );
    assert.deepEqual(q.body.points[0].fields, {
      temperature: 150,
      humidity: 40,
      smoke_density: 0.1,
      co_level: 0.02,
      gas_level: 0,
    });
    const bad = await post({ ...record, measured_at: "yesterday", humidity: "wet" });
    assert.equal(bad.status, 400);
    assert.ok(bad.body.details.some((d: string) => d.startsWith("measured_at:")));
    assert.ok(bad.body.details.some((d: string) => d.startsWith("humidity:")));
    const status = await call(`${url}/status`);
    const ingest = status.body.sources.http_ingest;
    assert.equal(ingest.processed, 1);
    assert.equal(ingest.counters.clamped, 2);
    assert.equal(ingest.dropped.invalid_body, 1);
  } finally {
    await agent.stop();
  }
});
