/** redis-server for the tests. */
import { freePort, Server, tlsOpen } from "./server.ts";
import type { TestCa } from "./tls.ts";

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
