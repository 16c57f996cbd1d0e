/**
 * Attack 3: idle TCP connections. Under `ulimit -n 1024`, 1,100 connections that
 * never send a byte used to exhaust the descriptors and end the process.
 */
import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/servers.ts";

const TOKEN = "hostile-conns";

async function openIdle(port: number, n: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i++) {
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch {
      // Refused by the kernel's backlog: the attack goes on with what it has.
    }
  }
  return conns;
}

async function samplesOf(url: string): Promise<number> {
  const s = await (await fetch(`${url}/status`)).json();
  return s.sources.mppt1.processed;
}

Deno.test("1,100 idle connections under ulimit -n 1024: refused beyond the cap, timed out, the gateway keeps serving", async () => {
  const gw = await startGateway((port, data) =>
    `gateway: {id: conns, data_dir: ${data}}
log: {level: error}
http: {port: ${port}, token: ${TOKEN}, max_connections: 64, max_connections_per_client: 64,
  header_timeout: 1s, idle_timeout: 2s}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
`, { nofile: 1024 });
  let conns: Deno.Conn[] = [];
  try {
    const before = await samplesOf(gw.url);
    conns = await openIdle(gw.port, 1100);
    // The simulated device keeps being stored while the attack holds its sockets.
    await new Promise((r) => setTimeout(r, 1500));
    const rss = gw.rssMiB();
    // Silent connections are closed after header_timeout: the API answers again.
    await waitFor(async () => (await fetch(`${gw.url}/health`)).status === 200, {
      what: "/health after the idle connections timed out",
    });
    let s = await (await fetch(`${gw.url}/status`)).json();
    await waitFor(async () => {
      s = await (await fetch(`${gw.url}/status`)).json();
      return s.http.counters.header_timeouts >= 60;
    }, { what: "the silent connections closed" });
    // Beyond the caps (all, per client, the reserve kept for token holders): closed at once.
    const c = s.http.counters;
    const refused = (c.refused_connections ?? 0) + (c.refused_client_connections ?? 0) +
      (c.refused_without_token ?? 0);
    assert.ok(refused > 900, JSON.stringify(s.http.counters));
    // Samples went on being stored (a count in a fixed time would be a rate: a liveness bound).
    await waitFor(async () => await samplesOf(gw.url) > before + 10, {
      what: "samples stored during and after the attack",
    });
    const ingest = await fetch(`${gw.url}/ingest`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ node: "after", fields: { v: 1 } }),
    });
    assert.equal(ingest.status, 200);
    assert.ok(rss < 200, `RSS ${rss.toFixed(0)} MiB`);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed by the gateway */ }
    }
    await gw.stop();
  }
});

Deno.test("out of file descriptors: accept errors are counted and the server recovers", async () => {
  // A cap above the descriptor limit: the process itself runs out (EMFILE).
  const gw = await startGateway((port, data) =>
    `gateway: {id: emfile, data_dir: ${data}}
log: {level: error}
http: {port: ${port}, max_connections: 2000, max_connections_per_client: 2000, header_timeout: 30s}
`, { nofile: 256 });
  let conns: Deno.Conn[] = [];
  try {
    conns = await openIdle(gw.port, 400);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(gw.child.pid > 0);
    for (const c of conns.splice(0)) c.close();
    await waitFor(async () => (await fetch(`${gw.url}/health`)).status === 200, {
      what: "/health once descriptors are free again",
    });
    const s = await (await fetch(`${gw.url}/status`)).json();
    assert.ok(
      (s.http.counters.accept_errors ?? 0) + (s.http.counters.forward_errors ?? 0) > 0,
      JSON.stringify(s.http.counters),
    );
  } finally {
    for (const c of conns) c.close();
    await gw.stop();
  }
});
