/** mosquitto for the tests. */
import { freePort, Server, tcpOpen, tlsOpen } from "./server.ts";
import type { TestCa } from "./tls.ts";

/**
 * mosquitto on loopback (persistence keeps sessions across restarts). Anonymous clients are
 * let in; `users` (name: password) go in a password file and `acl` is its acl_file's text.
 */
export async function startMosquitto(
  options: {
    persistence?: boolean;
    config?: string;
    tls?: TestCa;
    users?: Record<string, string>;
    acl?: string;
    anonymous?: boolean;
  } = {},
): Promise<Server> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "mosquitto-" });
  const conf = `${dir}/mosquitto.conf`;
  const tls = options.tls;
  let access = `allow_anonymous ${options.anonymous ?? true}\n`;
  // Started as root, mosquitto reads these files after it became user mosquitto.
  if (options.users || options.acl !== undefined) await Deno.chmod(dir, 0o755);
  if (options.users) {
    const file = `${dir}/passwd`;
    for (const [user, password] of Object.entries(options.users)) {
      const create = (await Deno.stat(file).catch(() => null)) ? [] : ["-c"];
      const made = await new Deno.Command("mosquitto_passwd", {
        args: [...create, "-b", file, user, password],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!made.success) throw new Error(new TextDecoder().decode(made.stderr));
    }
    await Deno.chmod(file, 0o644);
    access += `password_file ${file}\n`;
  }
  if (options.acl !== undefined) {
    await Deno.writeTextFile(`${dir}/acl`, options.acl);
    access += `acl_file ${dir}/acl\n`;
  }
  await Deno.writeTextFile(
    conf,
    `listener ${port} 127.0.0.1\n${access}log_dest none\n` +
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

/**
 * The broker ACL src/sinks/venus/README.md gives: only user `ha` may publish W/, the gateway reads it;
 * clients without credentials may read N/ and send keepalives.
 */
export const VENUS_WRITES_ACL = `topic read N/#
topic write R/#

user gateway
topic readwrite N/#
topic read R/#
topic read W/#
topic readwrite homeassistant/#
topic write edge-gateway/#

user ha
topic read N/#
topic write R/#
topic write W/#
topic readwrite homeassistant/#
topic read edge-gateway/#
`;

/**
 * The broker ACL the Home Assistant sink's README gives for its writable entities: only user
 * `ha` may publish the command topics (`edge-gateway/<gateway>/set/#`), the gateway reads them;
 * clients without credentials get nothing.
 */
export const HA_WRITES_ACL = `user gateway
topic readwrite homeassistant/#
topic readwrite edge-gateway/#

user ha
topic readwrite homeassistant/#
topic read edge-gateway/#
topic write edge-gateway/+/set/#
`;
