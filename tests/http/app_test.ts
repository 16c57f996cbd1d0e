import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { ComponentStatus } from "../../src/status.ts";
import { type Clock, shiftedClock } from "../../src/util/clock.ts";
import { freePort, waitFor } from "../helpers/servers.ts";
import { canMount, withTmpfs } from "../helpers/tmpfs.ts";

configureLog({ level: "error" });

const TOKEN = "t0ken-for-tests";
const T0 = Date.UTC(2026, 0, 1);

async function startAgent(extra = "", options: { clock?: Clock } = {}) {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(
    parseConfig(
      `gateway: {id: http-test, data_dir: ${dir}, timezone: UTC}
http: {port: ${port}, max_body: 2KiB${extra}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:9", database: d, password: hunter2-secret}
`,
      gatewaySchema,
    ),
    options,
  );
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

    // hissrv's forms, for its monitoring scripts: top-level figures and channel/range queries.
    for (const key of ["status", "processed", "failed", "queue_size", "last_sync"]) {
      assert.ok(key in status.body, key);
    }
    assert.equal(status.body.queue_size, status.body.sinks.influx.queue.records);
    assert.equal(status.body.last_sync, null, "nothing delivered to an unreachable InfluxDB");
    assert.ok(status.body.failed >= 0);
    const h = await call(`${url}/query?measurement=vedirect&channel=mppt1&range=1h`);
    assert.equal(h.status, 200);
    assert.equal(h.body.node, "mppt1");
    assert.ok(h.body.points.length >= 1);
    assert.ok(h.body.from <= Date.now() - 3_599_000 && h.body.from >= Date.now() - 3_700_000);
    assert.equal((await call(`${url}/query?channel=mppt1&range=an-hour`)).status, 400);
  } finally {
    await agent.stop();
  }
});

Deno.test("an unknown node is a 404 naming the known ones, on /query and /device", async () => {
  const { agent, url } = await startAgent();
  try {
    await waitFor(() => agent.sources.get("mppt1")!.status.processed >= 1, { what: "samples" });
    const q = await call(`${url}/query?node=nope`);
    assert.equal(q.status, 404);
    assert.match(q.body.error, /no node "nope"/);
    assert.deepEqual(q.body.known, ["mppt1"]);
    assert.equal(q.body.more, 0);
    const w = await call(`${url}/query?node=nope&window=1m`);
    assert.equal(w.status, 404);
    const page = await fetch(`${url}/device/nope`);
    assert.equal(page.status, 404);
    const html = await page.text();
    assert.match(html, /No node “nope”/);
    assert.match(html, /<a href="mppt1">mppt1<\/a>/);
    // A known node with nothing in the range is still 200, with no points.
    const empty = await call(`${url}/query?node=mppt1&from=0&to=1000`);
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body.points, []);
  } finally {
    await agent.stop();
  }
});

Deno.test("before its first window the device view draws the last hour's raw samples and says when the window is due", async () => {
  // 14:02:10 UTC: the first 5m window (14:00-14:05) closes at 14:05.
  const { agent, url } = await startAgent("", {
    clock: shiftedClock(Date.UTC(2026, 2, 3, 14, 2, 10)),
  });
  try {
    await waitFor(() => agent.sources.get("mppt1")!.status.processed >= 25, { what: "samples" });
    await agent.store.flush();
    const html = await (await fetch(`${url}/device/mppt1`)).text();
    assert.match(html, /mppt1 · last minute/, "the raw samples fill the width from the first");
    assert.match(
      html,
      /raw samples until the first 5m window, due after 14:05<\/span> · times UTC/,
    );
    assert.match(html, /<figure data-field="V">/);
    assert.match(html, /<polyline class="avg" points="[^"]+ [^"]+"/, "several raw points drawn");
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

Deno.test("ingest: samples without ts in one request are distinct points; own times in s/ms/us/ISO are kept; bad ones counted", async () => {
  const { agent, url } = await startAgent(`, token: ${TOKEN}`);
  try {
    const post = (body: unknown) =>
      call(`${url}/ingest`, { method: "POST", body: JSON.stringify(body), headers: auth() });
    const burst = Array.from({ length: 50 }, (_, i) => ({ node: "b", fields: { i } }));
    assert.equal((await post(burst)).status, 200);
    const sec = 1_790_000_000;
    const own = await post([
      { node: "own", ts: sec, fields: { u: "s" } },
      { node: "own", ts: (sec + 1) * 1000, fields: { u: "ms" } },
      { node: "own", ts: (sec + 2) * 1e6 + 5, fields: { u: "us" } },
      {
        node: "own",
        ts: new Date((sec + 3) * 1000).toISOString().replace(".000Z", ".000007Z"),
        fields: { u: "iso" },
      },
    ]);
    assert.equal(own.status, 200);
    const outbox = agent.outbox;
    outbox.register("probe", {
      kinds: ["sample"],
      nodes: [],
      status: new ComponentStatus("probe", "test"),
    });
    // A sink registered now starts at the end: read what was appended from here on.
    assert.equal((await post(burst)).status, 200);
    assert.equal((await post({ node: "own", ts: sec * 1000, fields: { u: "again" } })).status, 200);
    const rows = outbox.read("probe", 1000).map((r) =>
      r.envelope.data as { node: string; ts: number }
    );
    const stamps = rows.filter((r) => r.node === "b").map((r) => Math.round(r.ts * 1000));
    assert.equal(stamps.length, 50);
    assert.equal(new Set(stamps).size, 50, "50 distinct microsecond stamps");
    assert.equal(rows.find((r) => r.node === "own")!.ts, sec * 1000);
    const stored =
      await (await fetch(`${url}/query?node=own&from=${sec * 1000}&to=${(sec + 10) * 1000}`))
        .json();
    assert.deepEqual(
      stored.points.map((p: { ts: number; fields: { u: string } }) => [p.ts, p.fields.u]),
      [[sec * 1000, "again"], [(sec + 1) * 1000, "ms"], [(sec + 2) * 1000, "us"], [
        (sec + 3) * 1000,
        "iso",
      ]],
    );
    const bad = await post([
      { node: "own", ts: 946684799, fields: { v: 1 } },
      { node: "own", ts: Date.now() + 3_600_000, fields: { v: 1 } },
      { node: "own", ts: "soon", fields: { v: 1 } },
    ]);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.details.length, 3, bad.body.details);
    assert.match(bad.body.details[0], /^0\.ts: .*before 2000/);
    assert.match(bad.body.details[1], /^1\.ts: .*ahead of the clock/);
    const status = await call(`${url}/status`);
    assert.equal(status.body.sources.http_ingest.dropped.bad_timestamp, 1);
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
            (_, j) => ({ node: "n", ts: T0 + i * 50 + j, fields: { pad: "x".repeat(200) } }),
          ),
        );
        const r = await call(`${url}/ingest`, { method: "POST", body, headers: auth() });
        if (r.status !== 200) refused = r;
      }
      assert.ok(refused, "the disk filled up");
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.reason, "disk_full");
      // A state that passes: the client is told when to try again.
      const again = await fetch(`${url}/ingest`, {
        method: "POST",
        body: JSON.stringify(
          Array.from(
            { length: 50 },
            (_, j) => ({ node: "n", fields: { pad: `${j}`.repeat(200) } }),
          ),
        ),
        headers: auth(),
      });
      await again.body?.cancel();
      assert.equal(again.status, 503);
      assert.equal(again.headers.get("retry-after"), "5");
      const health = await call(`${url}/health`);
      assert.equal(health.status, 503);
      assert.equal(health.body.components.outbox, "down");
      const status = await call(`${url}/status`);
      assert.equal(status.status, 200);
      // Refused, not dropped: the clients were told (503) and keep their samples.
      assert.ok(status.body.outbox.counters.refused_disk_full > 0);
      assert.equal(status.body.outbox.full.reason, "disk_full");
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
      measured_at: "2026-01-15T04:00:00Z",
      temperature: 512,
      humidity: 40,
      smoke_density: 0.1,
      co_level: 0.02,
      gas_level: -3,
    };
    const ok = await post([record]);
    assert.deepEqual(ok, { status: 200, body: { accepted: 1, clamped: 2 } });
    const q = await call(
      `${url}/query?node=EQ-7&from=2026-01-15T03:59:00Z&to=2026-01-15T04:01:00Z`,
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

Deno.test("with http.read_token, reading needs it too (bearer or ?token=); /health stays open", async () => {
  const { agent, url } = await startAgent(`, token: ${TOKEN}, read_token: r3ad-only-token`);
  try {
    for (const path of ["/status", "/", "/fragment", "/metrics", "/query?node=mppt1"]) {
      assert.equal((await fetch(`${url}${path}`)).status, 401, path);
      const res = await fetch(`${url}${path}`, {
        headers: { Authorization: "Bearer r3ad-only-token" },
      });
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    const page = await fetch(`${url}/?token=r3ad-only-token`);
    assert.equal(page.status, 200);
    assert.doesNotMatch(
      await page.text(),
      /r3ad-only-token/,
      "the token is not written into the page",
    );
    assert.equal((await fetch(`${url}/fragment?token=wrong`)).status, 401);
    assert.equal((await call(`${url}/health`)).status, 200);
    // The mutating token reads as well.
    assert.equal((await fetch(`${url}/status`, { headers: auth() })).status, 200);
  } finally {
    await agent.stop();
  }
});

Deno.test("with http.read_token every method needs it (HEAD too); the mutating token is never taken from ?token=", async () => {
  const { agent, url } = await startAgent(`, token: ${TOKEN}, read_token: r3ad-only-token`);
  const status = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${url}${path}`, init);
    await res.body?.cancel();
    return res.status;
  };
  try {
    for (const path of ["/status", "/", "/metrics", "/devices/mppt1/settings", "/dead-letters"]) {
      assert.equal(await status(path, { method: "HEAD" }), 401, `HEAD ${path}`);
      assert.equal(await status(path, { method: "OPTIONS" }), 401, `OPTIONS ${path}`);
    }
    const read = { Authorization: "Bearer r3ad-only-token" };
    assert.equal(await status("/status", { method: "HEAD", headers: read }), 200);
    assert.equal(await status("/health", { method: "HEAD" }), 200);
    // The read token in a page's address is what the status page on a phone uses.
    assert.equal(await status("/status?token=r3ad-only-token"), 200);
    // The mutating token: as a bearer header, never from the address (logs, browser history).
    assert.equal(await status("/status", { headers: auth() }), 200);
    assert.equal(await status(`/status?token=${TOKEN}`), 401);
    assert.equal(await status(`/dead-letters?token=${TOKEN}`), 401);
    const ingest = (query: string, headers: Record<string, string> = {}) =>
      status(`/ingest${query}`, {
        method: "POST",
        headers,
        body: JSON.stringify({ node: "q", fields: { v: 1 } }),
      });
    assert.equal(await ingest(`?token=${TOKEN}`), 401);
    assert.equal(await ingest("?token=r3ad-only-token"), 401, "the read token changes nothing");
    assert.equal(await ingest("", { Authorization: "Bearer r3ad-only-token" }), 401);
    assert.equal(await ingest("", auth()), 200);
    // A malformed header is refused, not read as the address's token.
    assert.equal(
      await status("/status?token=r3ad-only-token", { headers: { Authorization: "x" } }),
      401,
    );
  } finally {
    await agent.stop();
  }
});
