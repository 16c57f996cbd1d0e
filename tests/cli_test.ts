import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { DeviceSimulator } from "../src/sources/vedirect/simulator.ts";
import { concatBytes } from "../src/util/bytes.ts";
import { RUN_FLAGS, runCli, spawnGateway } from "./helpers/cli.ts";
import { PtyPair } from "./helpers/pty.ts";
import { freePort, waitFor } from "./helpers/servers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("check: three mistakes print three path-named errors and exit 2", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/bad.yml`;
  await Deno.writeTextFile(
    file,
    `http:
  port: "abc"
store:
  max_rowz: 10
sinks:
  influx:
    type: influxdb
    url: http://127.0.0.1:8086
    database: gw
    batch_size: 0
`,
  );
  const r = await runCli(["check", file]);
  assert.equal(r.code, 2);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("  "));
  assert.equal(lines.length, 3, r.stderr);
  assert.match(r.stderr, /http\.port: expected number, got "abc"/);
  assert.match(r.stderr, /store: unknown key "max_rowz"/);
  assert.match(r.stderr, /sinks\.influx\.batch_size: must be >= 1/);
  assert.doesNotMatch(r.stderr, / {4}at /); // no stack trace
});

Deno.test("check: a missing ${VAR} names the variable; a valid file prints masked config", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/c.yml`;
  await Deno.writeTextFile(file, "http:\n  token: ${EDGE_TEST_TOKEN}\n");
  const missing = await runCli(["check", file], { env: { EDGE_TEST_TOKEN: "" } });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /environment variable EDGE_TEST_TOKEN is not set/);
  const ok = await runCli(["check", file], { env: { EDGE_TEST_TOKEN: "s3cret-value" } });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(parseYaml(ok.stdout).http.token, "***");
  assert.doesNotMatch(ok.stdout + ok.stderr, /s3cret-value/);
  // A token no client could send as a bearer token is refused here, not at the first request.
  const bad = await runCli(["check", file], { env: { EDGE_TEST_TOKEN: "p@ss!word#1" } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /http\.token: not a valid bearer token \(RFC 6750\)/);
  assert.doesNotMatch(bad.stdout + bad.stderr, /p@ss!word#1/);
});

Deno.test("check prints the effective config as YAML, durations and sizes in the units people write", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/c.yml`,
    `gateway: {stop_timeout: 90000}
outbox: {max_bytes: 64MiB}
sources:
  units: {type: mqtt, url: "mqtt://127.0.0.1:1883", topics: [a/+]}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:8086", database: d, max_wait: 1500}
`,
  );
  const r = await runCli(["check", `${dir}/c.yml`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^gateway:\n/);
  const c = parseYaml(r.stdout);
  assert.equal(c.gateway.stop_timeout, "90s");
  assert.equal(c.http.max_body, "1MiB");
  assert.equal(c.outbox.max_bytes, "64MiB");
  assert.equal(c.store.grace, "10s");
  assert.equal(c.sinks.influx.max_wait, "1500ms");
  assert.equal(c.http.port, 8082, "plain numbers stay numbers");
  // What check prints is itself a valid config, read back to the same values.
  await Deno.writeTextFile(`${dir}/again.yml`, r.stdout);
  const again = await runCli(["check", `${dir}/again.yml`]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, r.stdout);
});

Deno.test("check: the shipped configs are valid", async () => {
  const r = await runCli(["check", `${ROOT}config/gateway.yml`]);
  assert.equal(r.code, 0, r.stderr);
  const units = await runCli(["check", `${ROOT}config/pepeunit.yml`]);
  assert.equal(units.code, 0, units.stderr);
  const parsed = parseYaml(units.stdout);
  assert.equal(parsed.sinks.files.secret_key, "***");
  assert.equal(
    parsed.sources.units.policies.default.processing_policy.policy_type,
    "LastValue",
  );
  // The config the install copies to a real site: serial ports, nothing simulated.
  const site = await runCli(["check", `${ROOT}config/site.yml`]);
  assert.equal(site.code, 0, site.stderr);
  const sources = Object.values(parseYaml(site.stdout).sources) as Record<string, unknown>[];
  assert.ok(sources.length > 0 && sources.every((s) => s.port && !s.simulate), site.stdout);
});

Deno.test("check warns when a sink forwards a simulated source's made-up samples", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/g.yml`,
    `gateway: {data_dir: ${dir}/data}
sources: {mppt1: {type: vedirect, simulate: mppt}}
sinks: {influx: {type: influxdb, url: "http://127.0.0.1:1", database: solar}}
`,
  );
  const r = await runCli(["check", `${dir}/g.yml`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: source mppt1 is simulated .* set port: instead of simulate:/);
});

Deno.test("bad usage exits 2 with help; version and --help exit 0", async () => {
  assert.equal((await runCli(["frobnicate"])).code, 2);
  assert.equal((await runCli(["check"])).code, 2);
  assert.equal((await runCli(["run", "--nope"])).code, 2);
  const v = await runCli(["version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^edge-gateway \d+\.\d+\.\d+ \(commit .+, deno \d+/);
  assert.equal((await runCli(["--help"])).code, 0);
  assert.equal((await runCli(["decode", "--help"])).code, 0);
});

Deno.test("decode: a raw capture becomes JSON lines with units, PID names and counters", async () => {
  const sim = new DeviceSimulator("bmv", { hexEvery: 2 });
  const capture = concatBytes(
    [0, 1, 2, 3].map((i) => sim.frame(Date.UTC(2026, 0, 1, 12) + i * 1000)),
  );
  const r = await runCli(["decode", "-"], { stdin: capture });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const records = lines.filter((l) => l.fields);
  // The capture starts at a block boundary (a line end): its first block is whole and kept.
  assert.equal(records.length, 4);
  for (const r of records) {
    assert.equal(r.product, "BMV-702");
    assert.equal(typeof r.fields.SOC, "number");
    assert.equal(typeof r.fields.H18, "number");
  }
  assert.ok(lines.some((l) => l.hex === "async" && l.register === "0xEDD5"));
  assert.match(r.stderr, /blocks_ok=8 checksum_errors=0/);

  // Cut into mid-block: that partial block is dropped, and the BMV's history half after it
  // (no PID to name the device) is not emitted as a record of no device.
  const cut = await runCli(["decode", "-"], { stdin: capture.subarray(7) });
  const kept = cut.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.fields);
  assert.equal(kept.length, 3);
  assert.ok(kept.every((r) => r.product === "BMV-702"));
  assert.match(cut.stderr, /orphan_records=1/);
});

Deno.test("run: a port in use is named with the keys that change it", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const out = await runCli(["run", "--config", `${ROOT}config/gateway.yml`], {
      env: { GATEWAY_HTTP_PORT: String(port), GATEWAY_DATA_DIR: await Deno.makeTempDir() },
      cwd: ROOT,
    });
    assert.equal(out.code, 1);
    assert.match(
      out.stderr,
      new RegExp(
        `cannot listen on 127\\.0\\.0\\.1:${port} \\(http\\.host/http\\.port, or GATEWAY_HTTP_PORT`,
      ),
    );
  } finally {
    taken.close();
  }
});

Deno.test("run: the demo starts, /health answers 200, SIGINT stops it with exit 0", async () => {
  const port = freePort();
  const dataDir = await Deno.makeTempDir();
  const child = spawnGateway(`${ROOT}config/gateway.yml`, {
    env: { GATEWAY_HTTP_PORT: String(port), GATEWAY_DATA_DIR: dataDir },
    cwd: ROOT,
  });
  try {
    await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      const body = await res.json();
      return res.status === 200 && body.status === "ok";
    }, { what: "gateway /health" });
    await waitFor(async () => {
      const status = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
      return status.sources.mppt1.processed > 0 && status.sources.bmv1.processed > 0;
    }, { what: "simulated records" });
  } finally {
    child.kill("SIGINT");
  }
  const status = await child.status;
  const log = await new Response(child.stderr).text();
  assert.equal(status.code, 0, log);
  // The first thing a new user looks for: where the page is.
  assert.match(log, new RegExp(`status page: http://127\\.0\\.0\\.1:${port}/`));
});

Deno.test("run: GATEWAY_HTTP_HOST=0.0.0.0 opens the demo's page to the LAN and logs where", async () => {
  const lan = Deno.networkInterfaces().filter((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  ).map((i) => i.address);
  const port = freePort();
  const dataDir = await Deno.makeTempDir();
  const child = spawnGateway(`${ROOT}config/gateway.yml`, {
    env: {
      GATEWAY_HTTP_HOST: "0.0.0.0",
      GATEWAY_HTTP_PORT: String(port),
      GATEWAY_DATA_DIR: dataDir,
    },
    cwd: ROOT,
  });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, {
      what: "gateway /health",
    });
    // What a phone on the LAN does: the machine's own address, not loopback.
    for (const ip of lan) assert.equal((await fetch(`http://${ip}:${port}/`)).status, 200, ip);
  } finally {
    child.kill("SIGINT");
  }
  const status = await child.status;
  const log = await new Response(child.stderr).text();
  assert.equal(status.code, 0, log);
  for (const ip of lan) assert.match(log, new RegExp(`status page: http://${ip}:${port}/`));
  assert.match(log, /open to anyone on the network: set http\.read_token \(GATEWAY_READ_TOKEN/);
});

Deno.test("Ctrl-C on `deno task start` (SIGINT to the whole process group) is a graceful stop, not a forced one", async () => {
  const port = freePort();
  const dataDir = await Deno.makeTempDir();
  // setsid: its own process group, as a terminal's foreground job.
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "task", "start"],
    env: { GATEWAY_HTTP_PORT: String(port), GATEWAY_DATA_DIR: dataDir, NO_COLOR: "1" },
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, {
    what: "gateway /health",
  });
  Deno.kill(-child.pid, "SIGINT"); // both deno task and the gateway get it; deno task forwards it
  const status = await child.status;
  const log = new TextDecoder().decode(
    (await child.stderr.getReader().read()).value ?? new Uint8Array(),
  );
  assert.doesNotMatch(log, /second signal/);
  assert.equal(status.code, 0, log);
});

Deno.test("run + simulate with production permissions: a serial port is read without --allow-all", async () => {
  const pty = await PtyPair.create();
  const port = freePort();
  const dir = await Deno.makeTempDir();
  const file = `${dir}/serial.yml`;
  await Deno.writeTextFile(
    file,
    `gateway: {data_dir: ${dir}/data}\nhttp: {port: ${port}}\nsources:\n  mppt1: {type: vedirect, port: ${pty.device}}\n`,
  );
  const device = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...RUN_FLAGS,
      `${ROOT}main.ts`,
      "simulate",
      "--device",
      "mppt",
      "--port",
      pty.peer,
      "--interval",
      "200ms",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const gateway = spawnGateway(file);
  try {
    await waitFor(async () => {
      const status = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
      return status.sources.mppt1.counters.blocks_ok >= 2 &&
        status.sources.mppt1.device.product === "SmartSolar MPPT 75/15";
    }, { what: "records read from the pty by the gateway process" });
  } finally {
    gateway.kill("SIGTERM");
    device.kill("SIGTERM");
    await gateway.status;
    await gateway.stderr.cancel();
    await device.status;
    await pty.unplug();
  }
});

Deno.test("check prints the permissions the gateway runs with (the production flags)", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/ok.yml`, ``);
  const out = await runCli(["check", `${dir}/ok.yml`]);
  assert.match(
    out.stderr,
    /permissions: --allow-read --allow-write --allow-net --allow-env --allow-sys --allow-run=stty,cat,dd,ffmpeg\n/,
  );
  assert.doesNotMatch(out.stderr, /allow-ffi|allow-all/);
});

Deno.test("check says per component which CA and client certificate TLS uses, and warns on insecure", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/tls.yml`,
    `store: {type: redis, redis: {host: 127.0.0.1, tls: true, insecure: true}}
sources:
  ds: {type: dataservice, url: "https://127.0.0.1:8443", ca: /etc/site-ca.crt, cert: /etc/gw.crt, key: /etc/gw.key}
  units: {type: mqtt, url: "mqtt://127.0.0.1:1883", topics: [a/+], ca: /etc/site-ca.crt}
sinks:
  influx: {type: influxdb, url: "https://db.site:8086", database: d}
`,
  );
  const r = await runCli(["check", `${dir}/tls.yml`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /tls: sources\.ds: TLS trusting the system CAs and \/etc\/site-ca\.crt, client certificate \/etc\/gw\.crt \(key \/etc\/gw\.key\)/,
  );
  assert.match(r.stderr, /tls: sinks\.influx: TLS trusting the system CAs, no client certificate/);
  assert.match(r.stderr, /tls: store\.redis: TLS without verifying the server \(insecure\)/);
  assert.match(r.stderr, /warning: store\.redis: insecure: true accepts any server certificate/);
  assert.match(r.stderr, /warning: sources\.units: TLS settings are given but it does not use TLS/);
});

Deno.test("check warns when the HTTP API listens beyond loopback without tokens", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/open.yml`, `http: {host: 0.0.0.0}\n`);
  const open = await runCli(["check", `${dir}/open.yml`]);
  assert.equal(open.code, 0);
  assert.match(open.stderr, /warning: http.host 0.0.0.0 is reachable from the network/);
  await Deno.writeTextFile(
    `${dir}/closed.yml`,
    `http: {host: 0.0.0.0, token: a1, read_token: b2}\n`,
  );
  const closed = await runCli(["check", `${dir}/closed.yml`]);
  assert.doesNotMatch(closed.stderr, /warning/);
});
