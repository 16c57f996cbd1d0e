import * as Minio from "minio";
import type { TestCa } from "./tls.ts";
import { Buffer } from "node:buffer";
/** Starts real servers (redis-server, mosquitto, influxd) on free loopback ports in temp dirs. */

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Polls `probe` until it returns true; throws after `timeoutMs`. */
export async function waitFor(
  probe: () => Promise<boolean> | boolean,
  options: { timeoutMs?: number; what?: string; intervalMs?: number } = {},
): Promise<void> {
  const until = Date.now() + (options.timeoutMs ?? 15_000);
  while (Date.now() < until) {
    try {
      if (await probe()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
  throw new Error(`timed out waiting for ${options.what ?? "condition"}`);
}

async function tcpOpen(port: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.close();
  return true;
}

async function tlsOpen(port: number, ca: string): Promise<boolean> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [await Deno.readTextFile(ca)],
  });
  await conn.handshake();
  conn.close();
  return true;
}

/** A fetch that trusts the test CA (for servers started with `tls`), or plain fetch. */
export function fetchWith(tls?: TestCa): typeof fetch {
  if (!tls) return fetch;
  const client = Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(tls.ca)] });
  return (input, init) => fetch(input, { ...init, client });
}

/** A running server process with its port and temp dir. */
export class Server {
  #child: Deno.ChildProcess | null = null;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dir: string,
    readonly command: string[],
    readonly ready: () => Promise<boolean>,
  ) {}

  /** Starts (or restarts) the process and waits until it answers. */
  async start(): Promise<this> {
    this.#child = new Deno.Command(this.command[0], {
      args: this.command.slice(1),
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).spawn();
    await waitFor(this.ready, { what: `${this.name} on port ${this.port}`, timeoutMs: 30_000 });
    return this;
  }

  /** Kills the process (SIGKILL by default: an outage, not a shutdown). */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child) return;
    try {
      child.kill(signal);
    } catch { /* already gone */ }
    await child.status;
  }

  /** Stops the process and removes its temp dir. */
  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  get running(): boolean {
    return this.#child !== null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** redis-server without persistence (on `port` when given, to test "down at start"). */
export async function startRedis(
  options: { port?: number; password?: string; tls?: TestCa } = {},
): Promise<Server> {
  const port = options.port ?? freePort();
  const dir = await Deno.makeTempDir({ prefix: "redis-" });
  const tls = options.tls;
  if (tls) {
    // TLS only: the plain port is off.
    return await new Server("redis-server", port, dir, [
      "redis-server",
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--tls-cert-file",
      tls.cert,
      "--tls-key-file",
      tls.key,
      "--tls-ca-cert-file",
      tls.ca,
      "--tls-auth-clients",
      "no",
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--dir",
      dir,
    ], () => tlsOpen(port, tls.ca)).start();
  }
  return await new Server("redis-server", port, dir, [
    "redis-server",
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    ...(options.password ? ["--requirepass", options.password] : []),
  ], async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const auth = options.password ? `AUTH ${options.password}\r\n` : "";
      await conn.write(new TextEncoder().encode(`${auth}PING\r\n`));
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      return /\+PONG/.test(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
    } finally {
      conn.close();
    }
  }).start();
}

/** mosquitto with anonymous access on loopback (persistence keeps sessions across restarts). */
export async function startMosquitto(
  options: { persistence?: boolean; config?: string; tls?: TestCa } = {},
): Promise<Server> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "mosquitto-" });
  const conf = `${dir}/mosquitto.conf`;
  const tls = options.tls;
  await Deno.writeTextFile(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n` +
      (tls ? `cafile ${tls.ca}\ncertfile ${tls.cert}\nkeyfile ${tls.key}\n` : "") +
      (options.persistence
        ? `persistence true\npersistence_location ${dir}/\n`
        : "persistence false\n") +
      (options.config ?? ""),
  );
  return await new Server(
    "mosquitto",
    port,
    dir,
    ["mosquitto", "-c", conf],
    () => tls ? tlsOpen(port, tls.ca) : tcpOpen(port),
  ).start();
}

/** influxd 1.x with its data in a temp dir (v1 /write and /query); https only with `tls`. */
export async function startInfluxd(
  options: { maxBodySize?: number; tls?: TestCa } = {},
): Promise<Server> {
  const port = freePort();
  const rpc = freePort();
  const dir = await Deno.makeTempDir({ prefix: "influxd-" });
  const conf = `${dir}/influxdb.conf`;
  await Deno.writeTextFile(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
  max-body-size = ${options.maxBodySize ?? 25_000_000}
${
      options.tls
        ? `  https-enabled = true
  https-certificate = "${options.tls.cert}"
  https-private-key = "${options.tls.key}"
`
        : ""
    }[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`,
  );
  const get = fetchWith(options.tls);
  const scheme = options.tls ? "https" : "http";
  return await new Server("influxd", port, dir, ["influxd", "-config", conf], async () => {
    const res = await get(`${scheme}://127.0.0.1:${port}/ping`);
    await res.body?.cancel();
    return res.status === 204;
  }).start();
}

/** Runs an InfluxQL query against influxd and returns the series of its first statement. */
export async function influxQuery(
  port: number,
  options: { db: string; q: string },
): Promise<{ columns: string[]; values: unknown[][]; tags?: Record<string, string> }[]> {
  const url = `http://127.0.0.1:${port}/query?db=${encodeURIComponent(options.db)}&epoch=ms&q=${
    encodeURIComponent(options.q)
  }`;
  const res = await fetch(url);
  const body = await res.json();
  return body.results?.[0]?.series ?? [];
}

/**
 * clickhouse-server (Debian's 18.16) with its data in a temp dir; HTTP interface on
 * `port` (HTTPS only, with `tls`).
 */
export async function startClickHouse(options: { tls?: TestCa } = {}): Promise<Server> {
  const tls = options.tls;
  const port = freePort();
  const tcp = freePort();
  const dir = await Deno.makeTempDir({ prefix: "clickhouse-" });
  await Deno.writeTextFile(
    `${dir}/users.xml`,
    `<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`,
  );
  await Deno.writeTextFile(
    `${dir}/config.xml`,
    `<yandex>
  <logger><level>warning</level><console>1</console></logger>
  ${
      tls
        ? `<https_port>${port}</https_port>
  <openSSL><server><certificateFile>${tls.cert}</certificateFile>
    <privateKeyFile>${tls.key}</privateKeyFile><verificationMode>none</verificationMode>
    <loadDefaultCAFile>false</loadDefaultCAFile></server></openSSL>`
        : `<http_port>${port}</http_port>`
    }
  <tcp_port>${tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
`,
  );
  return await new Server(
    "clickhouse-server",
    port,
    dir,
    ["clickhouse-server", `--config-file=${dir}/config.xml`],
    async () => {
      const res = await fetchWith(tls)(`${tls ? "https" : "http"}://127.0.0.1:${port}/ping`);
      return (await res.text()).startsWith("Ok");
    },
  ).start();
}

/** Runs a ClickHouse query over HTTP and returns the response text. */
export async function clickhouseQuery(port: number, query: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: query });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text}`);
  return text;
}

/** s3rver (npm) in its own process, storing objects in a temp dir; https with `tls`. */
export async function startS3rver(options: { tls?: TestCa } = {}): Promise<Server> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "s3rver-" });
  const main = new URL("./s3rver_main.ts", import.meta.url).pathname;
  return await new Server(
    "s3rver",
    port,
    dir,
    [
      Deno.execPath(),
      "run",
      "-A",
      main,
      String(port),
      dir,
      ...(options.tls ? [options.tls.cert, options.tls.key] : []),
    ],
    () => tcpOpen(port),
  ).start();
}

/** An npm:minio client for an s3rver started by {@link startS3rver}. */
export function s3rverClient(port: number): Minio.Client {
  return new Minio.Client({
    endPoint: "127.0.0.1",
    port,
    useSSL: false,
    accessKey: "S3RVER",
    secretKey: "S3RVER",
  });
}

/** Every object key under a prefix, sorted. */
export async function objectKeys(
  client: Minio.Client,
  bucket: string,
  prefix = "",
): Promise<string[]> {
  const names: string[] = [];
  for await (const o of client.listObjectsV2(bucket, prefix, true)) names.push(o.name);
  return names.sort();
}

/** One object's bytes. */
export async function readObject(
  client: Minio.Client,
  bucket: string,
  key: string,
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of await client.getObject(bucket, key)) chunks.push(c);
  return Buffer.concat(chunks);
}
