/** Data-Service: polled values become samples and are written back over IPC, against a protocol fixture. */
import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { pollToSamples } from "../../src/sources/dataservice/mod.ts";
import { DataServiceFixture } from "../helpers/dataservice_fixture.ts";
import { freePort, waitFor } from "../helpers/servers.ts";
import { makeTestCa } from "../helpers/tls.ts";

configureLog({ level: "error" });

const all = () => true;

Deno.test("polled-values keeps successful non-null tags, named by tag_name or name", () => {
  const { samples, skipped } = pollToSamples({
    plc1: {
      "1": { tag_name: "temp", value: 21.5, status: "SUCCESS" },
      "2": { name: "pressure", value: 1.2, status: "ok" },
      "3": { tag_name: "flow", value: null, status: "SUCCESS" },
      "4": { tag_name: "level", value: 3, status: "TIMEOUT" },
    },
    plc2: { "9": { tag_name: "x", value: 1, status: "error" } },
  }, { source: "ds", stamp: () => 5, device: all, tag: all });
  assert.deepEqual(samples, [{
    source: "ds",
    node: "plc1",
    ts: 5,
    fields: { temp: 21.5, pressure: 1.2 },
  }]);
  assert.equal(skipped, 3);
});

Deno.test("values flow from polled-values to the IPC socket; per-key errors are reported; a restart loses nothing", async () => {
  const ds = await DataServiceFixture.create();
  ds.ids.set("a1b2c3", "plc1:pressure");
  ds.startHttp();
  ds.startIpc();
  let seq = 0;
  const tick = () => {
    seq++;
    ds.polled = {
      plc1: {
        "1": { tag_name: "temp", value: seq, status: "SUCCESS" },
        "2": { tag_name: "pressure", value: seq * 10, status: "SUCCESS" },
        "3": { tag_name: "flow", value: seq, status: "SUCCESS" },
      },
      plc9: { "1": { tag_name: "ignored", value: 1, status: "SUCCESS" } },
    };
  };
  tick();
  const dir = await Deno.makeTempDir();
  const agent = new Agent(parseConfig(
    `gateway: {id: ds, data_dir: ${dir}}
http: {port: ${freePort()}}
sources:
  poll: {type: dataservice, socket: ${ds.httpPath}, interval: 50ms, error_pause: 100ms, devices: ["plc1"]}
sinks:
  ipc:
    type: dataservice_ipc
    socket: ${ds.ipcPath}
    ids: {"plc1:pressure": a1b2c3, "plc1:flow": deadbeef}
    batch_size: 1
    max_wait: 10ms
    backoff_min: 50ms
    backoff_max: 200ms
`,
    gatewaySchema,
  ));
  const timer = setInterval(tick, 60);
  await agent.start();
  try {
    await waitFor(() => ds.values.has("plc1:temp") && ds.values.has("plc1:pressure"), {
      what: "IPC writes",
    });
    assert.equal(ds.values.has("plc9:ignored"), false, "device filter");
    // Requested as curl --unix-socket does: origin-form, which Python's servers route.
    assert.equal(ds.requests[0], "GET /deploy/api/io/polled-values HTTP/1.1");
    const sink = agent.deliveries.get("ipc")!.options.status;
    await waitFor(() => (sink.counters.key_errors ?? 0) > 0, { what: "per-key error" });
    assert.equal((sink.info.key_errors as Record<string, string>)["plc1:flow"], "id not found");

    // The Data-Service restarts: writes wait in the outbox, then arrive in order.
    ds.stopIpc();
    const before = ds.writes.length;
    await waitFor(() => (sink.counters.retried ?? 0) >= 2, { what: "retries while down" });
    ds.startIpc();
    clearInterval(timer);
    const last = seq;
    await waitFor(() => ds.values.get("plc1:temp") === last, {
      what: "latest value after restart",
    });
    const temps = ds.writes.slice(before).filter((w) => w.key === "plc1:temp").map((w) =>
      w.value as number
    );
    // Polling goes on meanwhile: stop it and let the last writes land before counting.
    await agent.sources.get("poll")!.source.stop();
    await waitFor(() => agent.outbox.depth("ipc").records === 0, { what: "every write delivered" });
    const emitted = agent.sources.get("poll")!.status.processed;
    assert.ok(temps.length > 0);
    assert.deepEqual(temps, [...temps].sort((a, b) => a - b), "in order");
    // Every polled cycle reached the service: one temp write per emitted sample.
    assert.equal(ds.writes.filter((w) => w.key === "plc1:temp").length, emitted);
  } finally {
    clearInterval(timer);
    await agent.stop();
    await ds.stop();
  }
});

Deno.test("the polling service down: failed cycles are counted and polling resumes", async () => {
  const ds = await DataServiceFixture.create();
  const dir = await Deno.makeTempDir();
  const agent = new Agent(parseConfig(
    `gateway: {id: ds2, data_dir: ${dir}}
http: {port: ${freePort()}}
sources:
  poll: {type: dataservice, socket: ${ds.httpPath}, interval: 50ms, error_pause: 50ms}
`,
    gatewaySchema,
  ));
  await agent.start();
  const status = agent.sources.get("poll")!.status;
  try {
    await waitFor(() => (status.counters.failed_cycles ?? 0) >= 2, { what: "failed cycles" });
    assert.equal(status.state, "degraded");
    ds.polled = { plc1: { "1": { tag_name: "t", value: 1, status: "OK" } } };
    ds.startHttp();
    await waitFor(() => status.processed >= 2 && status.state === "up", {
      what: "polling resumed",
    });
  } finally {
    await agent.stop();
    await ds.stop();
  }
});

Deno.test("the polling service over HTTPS with a private CA: polled with the CA, refused without it", async () => {
  const ca = await makeTestCa();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(ca.cert),
    key: await Deno.readTextFile(ca.key),
    onListen: () => {},
  }, () => Response.json({ plc1: { "1": { tag_name: "temp", value: 21.5, status: "SUCCESS" } } }));
  const dir = await Deno.makeTempDir();
  const agent = new Agent(parseConfig(
    `gateway: {id: ds-tls, data_dir: ${dir}}
http: {enabled: false}
sources:
  trusted: {type: dataservice, url: "https://127.0.0.1:${server.addr.port}", interval: 100ms, ca: ${ca.ca}}
  untrusted: {type: dataservice, url: "https://127.0.0.1:${server.addr.port}", interval: 100ms, error_pause: 100ms}
`,
    gatewaySchema,
  ));
  await agent.start();
  try {
    const status = (name: string) => agent.sources.get(name)!.status;
    await waitFor(() => status("trusted").processed >= 2, { what: "polls over TLS" });
    await waitFor(() => (status("untrusted").counters.failed_cycles ?? 0) >= 1, {
      what: "a refused poll",
    });
    assert.equal(status("untrusted").processed, 0);
    assert.match(status("untrusted").lastError?.message ?? "", /certificate|UnknownIssuer/i);
  } finally {
    await agent.stop();
    await server.shutdown();
  }
});
