/**
 * Attack: hostile upstreams. An InfluxDB answering 500 with a 300 MiB body used to kill the
 * gateway (V8 out of memory, on every retry: a crash loop); a 200 whose body never ends drove RSS
 * to 4-6.8 GiB per attempt; a 302 to a login page counted the records delivered (none arrived);
 * a 307 to another origin sent the records and a secret header there. Now every answer is read
 * within a bound, a redirect is never followed (an error naming where it pointed), and the
 * records wait in the outbox until the upstream behaves. InfluxDB v1 and v2, the webhook and the
 * Data-Service poll source, each against its own hostile port, the sinks on the main thread and
 * in Workers.
 */
import assert from "node:assert/strict";
import { startGateway, type StatusDoc } from "../helpers/gateway.ts";
import {
  type HostileMode,
  type HostileUpstream,
  mib,
  startHostileUpstream,
  startRecordingServer,
  TAKEN_BOUND,
} from "../helpers/hostile_upstream.ts";
import { influxQuery, startInfluxd, waitFor } from "../helpers/servers.ts";

const TOKEN = "hostile-upstream";
const PASSWORD = "influx-v1-secret-pw";
const V2_TOKEN = "influx-v2-secret-token";
const HOOK_SECRET = "webhook-secret-header";
const T0 = Date.UTC(2026, 0, 1);
const N = 300;
/** A bound, not a measurement: the gateway's heap limit is 160 MiB. */
const RSS_BOUND_MIB = 400;

/** What each bad answer leaves as the component's last error. */
const EXPECTED: Record<Exclude<HostileMode, "forward">, RegExp> = {
  huge_error: /answered 500: a{100}/,
  endless: /answer larger than 16 MiB/,
  login_redirect: /answered 302, a redirect to \/login: redirects are not followed/,
  cross_redirect: /answered 307, a redirect to http:\/\/127\.0\.0\.1:\d+\/.*: redirects are not/,
};

/** InfluxDB v2's write API in front of influxd 1.6 (which has none): checks what v2 needs. */
function startV2Front(influxPort: number) {
  return Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const u = new URL(req.url);
    if (u.pathname !== "/api/v2/write") return new Response("not found", { status: 404 });
    if (req.headers.get("authorization") !== `Token ${V2_TOKEN}`) {
      return new Response('{"code":"unauthorized"}', { status: 401 });
    }
    if (u.searchParams.get("org") !== "site" || u.searchParams.get("precision") !== "us") {
      return new Response('{"code":"invalid"}', { status: 400 });
    }
    const headers: Record<string, string> = {};
    const encoding = req.headers.get("content-encoding");
    if (encoding) headers["Content-Encoding"] = encoding;
    const res = await fetch(
      `http://127.0.0.1:${influxPort}/write?db=${u.searchParams.get("bucket")}&precision=u`,
      { method: "POST", headers, body: await req.arrayBuffer() },
    );
    const body = await res.arrayBuffer();
    return new Response(res.status === 204 ? null : body, { status: res.status });
  });
}

for (const workers of [false, true]) {
  Deno.test(`hostile upstreams: huge and endless answers, redirects to a login page and to another origin; nothing lost, nothing leaks, memory bounded${workers ? " (sinks in Workers)" : ""}`, async () => {
    const influx = await startInfluxd();
    for (const db of ["up1", "up2"]) {
      await fetch(`http://127.0.0.1:${influx.port}/query?q=CREATE+DATABASE+${db}`, {
        method: "POST",
      }).then((r) => r.body?.cancel());
    }
    const other = startRecordingServer();
    const v2 = startV2Front(influx.port);
    const hooked: number[] = [];
    const receiver = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
      assert.equal(req.headers.get("x-secret"), HOOK_SECRET);
      const records = await req.json() as { node: string; fields: { v: number } }[];
      hooked.push(...records.filter((r) => r.node === "n").map((r) => r.fields.v));
      return new Response(null, { status: 204 });
    });
    const polled = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      () => Response.json({ plc: { "1": { tag_name: "level", value: 7, status: "SUCCESS" } } }),
    );
    // Well first, so the sinks connect (v1 creates its database) and the writes meet the attacks.
    const mode: HostileMode = "forward";
    const ups: Record<string, HostileUpstream> = {
      v1: await startHostileUpstream({ mode, target: influx.port, other: other.url }),
      v2: await startHostileUpstream({ mode, target: v2.addr.port, other: other.url }),
      hook: await startHostileUpstream({ mode, target: receiver.addr.port, other: other.url }),
      ds: await startHostileUpstream({ mode, target: polled.addr.port, other: other.url }),
    };
    const states = () => Promise.all(Object.values(ups).map((up) => up.state()));
    const retry = "batch_size: 100, max_wait: 20ms, backoff_min: 50ms, backoff_max: 200ms";
    const gw = await startGateway((port, data) =>
      `gateway: {id: hostile-up, data_dir: ${data}, delivery_workers: ${workers}}
log: {level: error}
http: {port: ${port}, token: ${TOKEN}}
sources:
  ds: {type: dataservice, url: "${ups.ds.url}", interval: 100ms, error_pause: 100ms}
sinks:
  v1: {type: influxdb, url: "${ups.v1.url}", database: up1, username: gw, password: ${PASSWORD}, create_database: true, nodes: ["n"], ${retry}}
  v2: {type: influxdb, api: v2, url: "${ups.v2.url}", org: site, bucket: up2, token: ${V2_TOKEN}, nodes: ["n"], ${retry}}
  hook: {type: webhook, url: "${ups.hook.url}/hook", headers: {X-Secret: ${HOOK_SECRET}}, mode: batch, forward: [sample], nodes: ["n"], ${retry}}
`
    );
    try {
      const ingest = async (from: number, n: number) => {
        const samples = Array.from({ length: n }, (_, i) => ({
          node: "n",
          ts: T0 + from + i,
          fields: { v: from + i },
        }));
        const res = await fetch(`${gw.url}/ingest`, {
          method: "POST",
          headers: { Authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify(samples),
        });
        assert.equal(res.status, 200, await res.text());
      };
      const settled = async () => {
        const s = await gw.status();
        return ["v1", "v2", "hook"].every((n) => s.sinks[n].queue.records === 0) &&
          s.sources.ds.state === "up";
      };
      await ingest(0, 1);
      await waitFor(settled, { what: "the first sample delivered, the poll source up" });
      for (const up of Object.values(ups)) await up.setMode("huge_error");
      await ingest(1, N);
      const last = (s: StatusDoc, name: string) =>
        String(
          ((name === "ds" ? s.sources.ds : s.sinks[name]).last_error as { message?: string })
            ?.message,
        );
      for (const m of ["huge_error", "endless", "login_redirect", "cross_redirect"] as const) {
        for (const up of Object.values(ups)) await up.setMode(m);
        // Each upstream answers this way at least twice, and each component reports it.
        await waitFor(async () => {
          if ((await states()).some((st) => (st.answered[m] ?? 0) < 2)) return false;
          const s = await gw.status();
          return Object.keys(ups).every((name) => EXPECTED[m].test(last(s, name)));
        }, { what: `every component failing on ${m}`, timeoutMs: 60_000 });
        const s = await gw.status();
        for (const name of ["v1", "v2", "hook"]) {
          assert.equal(s.sinks[name].queue.records, N, `${name} after ${m}: nothing delivered`);
        }
        assert.equal((await gw.health()).code, 200);
        const text = JSON.stringify(s);
        for (const secret of [PASSWORD, V2_TOKEN, HOOK_SECRET]) assert.ok(!text.includes(secret));
        console.log(`${m}: ${last(s, "v1").slice(0, 160)}; peak RSS ${gw.peakRssMiB()} MiB`);
      }
      // The upstreams behave: every record arrives, once.
      for (const up of Object.values(ups)) await up.setMode("forward");
      const count = async (db: string) => {
        const r = await influxQuery(influx.port, { db, q: 'SELECT count("v") FROM "http"' });
        return Number(r[0]?.values[0]?.[1] ?? 0);
      };
      await waitFor(async () => (await count("up1")) === N + 1 && (await count("up2")) === N + 1, {
        what: `${N + 1} points in both databases`,
        timeoutMs: 60_000,
      });
      await waitFor(() => new Set(hooked).size === N + 1, { what: "every record at the webhook" });
      await waitFor(settled, { what: "queues empty, the poll source up" });
      // Nothing reached the other origin, no login page was asked for.
      assert.deepEqual(other.requests, []);
      for (const st of await states()) {
        assert.equal(st.loginRequests, 0);
        // The bound held: no answer was taken far past 16 MiB (the sockets between hold some).
        console.log(`most of one answer taken (MiB): ${JSON.stringify(mib(st.largest))}`);
        for (const m of ["huge_error", "endless"]) {
          assert.ok((st.largest[m] ?? 0) < TAKEN_BOUND, `${m}: ${st.largest[m]} bytes taken`);
        }
      }
      assert.equal((await gw.health()).code, 200, "the gateway is alive and serving");
      const peak = gw.peakRssMiB();
      console.log(`peak RSS ${peak} MiB (bound ${RSS_BOUND_MIB})`);
      assert.ok(peak < RSS_BOUND_MIB, `peak RSS ${peak} MiB`);
    } finally {
      const log = await gw.stop();
      assert.doesNotMatch(log, /out of memory|uncaught/i);
      for (const up of Object.values(ups)) await up.close();
      await Promise.all([
        other.close(),
        v2.shutdown(),
        receiver.shutdown(),
        polled.shutdown(),
        influx.stop(),
      ]);
    }
  });
}
