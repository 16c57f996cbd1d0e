/**
 * The service binary's narrow Deno permissions (src/permissions.ts), tried from
 * source: the same flags with the service's paths moved into a temp dir, and the
 * files the binary embeds (Lua scripts, COMMIT) readable as they are inside it.
 * `deno compile` cannot finish here (no denort download), so this is the closest run.
 */
import assert from "node:assert/strict";
import { SERVICE_PATHS, serviceFlags } from "../src/permissions.ts";
import { V8_FLAGS } from "../tools/compile.ts";
import { runCli, spawnGateway } from "./helpers/cli.ts";
import { freePort, startInfluxd, startMosquitto, startRedis, waitFor } from "./helpers/servers.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The service's paths under `root`, and the binary's flags for them. */
async function serviceLayout(root: string) {
  const paths: typeof SERVICE_PATHS = {
    config: `${root}/etc/edge-gateway`,
    data: `${root}/var/lib/edge-gateway`,
    runtime: `${root}/run/edge-gateway`,
    credentials: `${root}/run/credentials`,
    dataservice: `${root}/tmp/dataservice.sock`,
    notify: `${root}/notify.sock`,
    timesync: `${root}/run/systemd/timesync`,
  };
  for (const dir of [paths.config, paths.data, paths.runtime]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  const flags = serviceFlags(paths).map((f) =>
    // What the binary embeds, readable from the checkout here.
    f.startsWith("--allow-read=") ? `${f},${ROOT}lua,${ROOT}COMMIT,${ROOT}src` : f
  );
  return { paths, flags: [V8_FLAGS, ...flags] };
}

Deno.test("the gateway runs under the service binary's narrow permissions", async () => {
  const root = await Deno.makeTempDir({ prefix: "service-" });
  const { paths, flags } = await serviceLayout(root);
  assert.ok(!flags.includes("--allow-write"), "writes are limited to paths");
  assert.ok(!flags.includes("--allow-read"), "reads are limited to paths");
  const [redis, broker, influx] = await Promise.all([
    startRedis(),
    startMosquitto(),
    startInfluxd(),
  ]);
  const port = freePort();
  // systemd's notification socket: the gateway must bind its own in the runtime directory.
  const notify = Deno.listenDatagram({ transport: "unixpacket", path: `${root}/notify.sock` });
  const config = `${paths.config}/gateway.yml`;
  await Deno.writeTextFile(
    config,
    `gateway: {id: service, data_dir: ${paths.data}, delivery_workers: true}
http: {port: ${port}}
store: {type: redis, redis: {port: ${redis.port}}, windows: [{level: 1m}]}
sources:
  mppt1: {type: vedirect, simulate: mppt}
  units: {type: mqtt, url: "mqtt://127.0.0.1:${broker.port}", topics: ["site/+"], client_id: svc, connections: 2}
sinks:
  lake: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: gw, create_database: true, max_wait: 100ms}
`,
  );
  const gateway = spawnGateway(config, {
    flags,
    env: { NOTIFY_SOCKET: `${root}/notify.sock`, RUNTIME_DIRECTORY: paths.runtime },
  });
  const log = new Response(gateway.stderr).text();
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const [ready] = await Promise.race([
      notify.receive(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no READY=1 within 60 s")), 60_000);
      }),
      gateway.status.then(async () => {
        throw new Error(`the gateway exited:\n${await log}`);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.match(new TextDecoder().decode(ready), /^READY=1/);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      const health = await (await fetch(`${url}/health`)).json();
      return health.components["vedirect.mppt1"] === "up" &&
        health.components["mqtt.units"] === "up";
    }, { what: "sources up" });
    // Samples reach Redis through the Lua scripts; windows are read back.
    await waitFor(async () => {
      const res = await fetch(`${url}/query?node=mppt1&from=${Date.now() - 60_000}`);
      return (await res.json()).points.length > 0;
    }, { what: "samples stored" });
    for (const path of ["/status", "/metrics", "/"]) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    // The InfluxDB sink runs in a Worker, which has the same narrow permissions.
    const lake = async () => (await (await fetch(`${url}/status`)).json()).sinks.lake;
    await waitFor(async () => (await lake()).processed > 0, {
      what: "records delivered by the sink's Worker",
    }).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await lake())}`);
    });
    const status = await (await fetch(`${url}/status`)).json();
    // The MQTT source's two connections run in Workers too, and it keeps N in its data dir.
    assert.equal(status.sources.units.reader, "2 Workers");
    assert.equal((await Deno.readTextFile(`${paths.data}/mqtt-units.connections`)).trim(), "2");
    assert.equal(status.process.counters.uncaught_errors ?? 0, 0);
    assert.equal(status.store.state, "up");
  } finally {
    gateway.kill("SIGTERM");
    assert.equal((await gateway.status).code, 0, await log);
    notify.close();
    await Promise.all([redis.stop(), broker.stop(), influx.stop()]);
  }
  const text = await log;
  assert.doesNotMatch(text, /NotCapable|Requires (read|write|sys|env|net|run) access/);
  assert.deepEqual([...Deno.readDirSync(paths.runtime)], [], "its socket removed at exit");
});

Deno.test("check and run name the config key whose path the binary may not use", async () => {
  const root = await Deno.makeTempDir({ prefix: "service-" });
  const { paths, flags } = await serviceLayout(root);
  const config = `${paths.config}/gateway.yml`;
  await Deno.writeTextFile(
    config,
    `gateway: {data_dir: ${root}/elsewhere}
sinks:
  lake: {type: influxdb, url: "https://127.0.0.1:1", database: gw, ca: /srv/ca.pem}
`,
  );
  for (const command of [["check", config], ["run", "--config", config]]) {
    const out = await runCli(command, { flags });
    assert.equal(out.code, 2, out.stderr);
    assert.match(out.stderr, /gateway\.data_dir .*elsewhere: this gateway may not write there/);
    assert.match(out.stderr, /sinks\.lake\.ca \/srv\/ca\.pem: this gateway may not read there/);
  }
  // Within its paths, check passes and lists the permissions per path.
  await Deno.writeTextFile(config, `gateway: {data_dir: ${paths.data}}\n`);
  const ok = await runCli(["check", config], { flags });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(
    ok.stderr,
    new RegExp(
      `permissions: --allow-read=${config},${paths.data} --allow-write=${paths.data} ` +
        "--allow-net --allow-env --allow-sys=hostname,networkInterfaces " +
        "--allow-run=stty,cat,dd,ffmpeg\n",
    ),
  );
});
