/** influxd 1.x for the tests. */
import { fetchWith, freePort, Server } from "./server.ts";
import type { TestCa } from "./tls.ts";

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
