/** mosquitto for the tests. */
import { freePort, Server, tcpOpen, tlsOpen } from "./server.ts";
import type { TestCa } from "./tls.ts";

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
