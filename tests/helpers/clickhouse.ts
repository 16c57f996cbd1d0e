/** clickhouse-server (Debian's 18.16) for the tests. */
import { fetchWith, freePort, Server } from "./server.ts";
import type { TestCa } from "./tls.ts";

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
  const server = new Server(
    "clickhouse-server",
    port,
    dir,
    ["clickhouse-server", `--config-file=${dir}/config.xml`],
    async () => {
      const res = await fetchWith(tls)(`${tls ? "https" : "http"}://127.0.0.1:${port}/ping`);
      return (await res.text()).startsWith("Ok");
    },
  );
  // A graceful stop waits out every idle keep-alive connection (10 s): the data goes anyway.
  server.stopSignal = "SIGKILL";
  return await server.start();
}

/** Runs a ClickHouse query over HTTP and returns the response text. */
export async function clickhouseQuery(port: number, query: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: query });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text}`);
  return text;
}
