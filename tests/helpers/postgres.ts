/** PostgreSQL (Debian's) in a temp dir on a free loopback port, for the tests. */
import { freePort, Server } from "./servers.ts";

/** Debian keeps the server programs out of PATH, in /usr/lib/postgresql/<version>/bin. */
function pgBin(name: string): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      Deno.statSync(`${dir}/${name}`);
      return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  const versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name).sort();
  return `/usr/lib/postgresql/${versions.at(-1)}/bin/${name}`;
}

/**
 * The server refuses to run as root: as root, it runs as the `postgres` user the package made.
 * setpriv execs in place (runuser would fork), so a kill reaches the server itself.
 */
function asServerUser(args: string[]): string[] {
  return Deno.uid() === 0
    ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", ...args]
    : args;
}

/** Starts PostgreSQL with trust authentication on 127.0.0.1 (database `postgres`, user `postgres`). */
export async function startPostgres(): Promise<Server> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "postgres-" });
  if (Deno.uid() === 0) {
    const id = await new Deno.Command("id", { args: ["-u", "postgres"] }).output();
    const uid = Number(new TextDecoder().decode(id.stdout));
    await Deno.chown(dir, uid, null);
  }
  const initdb = asServerUser([
    pgBin("initdb"),
    "-D",
    `${dir}/data`,
    "-U",
    "postgres",
    "-A",
    "trust",
    "--no-sync",
  ]);
  const init = await new Deno.Command(initdb[0], {
    args: initdb.slice(1),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!init.success) throw new Error(`initdb: ${new TextDecoder().decode(init.stderr)}`);
  const command = asServerUser([
    pgBin("postgres"),
    "-D",
    `${dir}/data`,
    "-p",
    String(port),
    "-h",
    "127.0.0.1",
    "-k",
    dir,
    "-c",
    "fsync=off",
  ]);
  return await new Server("postgres", port, dir, command, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    // Accepting connections is not yet accepting queries: ask pg_isready-style with a query.
    const { default: connect } = await import("postgres");
    const sql = connect({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
    try {
      await sql`SELECT 1`;
      return true;
    } finally {
      await sql.end({ timeout: 1 });
    }
  }).start();
}
