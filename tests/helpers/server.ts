/** The base of the tests' real servers: free ports, waiting, and a server process. */
import type { TestCa } from "./tls.ts";

/** The lowest port the kernel hands out for port 0 and outgoing connections (Linux default). */
function ephemeralLow(): number {
  try {
    const low = Number(
      Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > 20_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Ports this process handed out: never twice (a server stopped and another started). */
const handedOut = new Set<number>();

/**
 * A free TCP port (free on every address when chosen), below the kernel's ephemeral range. The
 * port is closed again before its server binds it; in the ephemeral range, the outgoing
 * connections the suite's files make by the thousand in parallel (and any port-0 listener) could
 * take it meanwhile, and the server failed to start, or a test reached another server. Below
 * it, only another test's choice can, at random among some 12,000.
 */
export function freePort(): number {
  const low = 20_000;
  const span = Math.min(ephemeralLow(), 33_000) - low;
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * span);
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "0.0.0.0", port }).close();
    } catch {
      continue; // in use
    }
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found between ${low} and ${low + span}`);
}

/**
 * Polls `probe` until it returns true; throws after `timeoutMs` (default 60 s: a liveness bound,
 * not a timing; the suite's files run in parallel on 2 cores, where 15 s was once too short).
 */
export async function waitFor(
  probe: () => Promise<boolean> | boolean,
  options: { timeoutMs?: number; what?: string; intervalMs?: number } = {},
): Promise<void> {
  const until = Date.now() + (options.timeoutMs ?? 60_000);
  while (Date.now() < until) {
    try {
      if (await probe()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
  throw new Error(`timed out waiting for ${options.what ?? "condition"}`);
}

/** Whether something accepts TCP connections on the port. */
export async function tcpOpen(port: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.close();
  return true;
}

/** Whether a TLS handshake with the test CA succeeds on the port. */
export async function tlsOpen(port: number, ca: string): Promise<boolean> {
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
  /** How {@link stop} ends the process (its data is thrown away either way). */
  stopSignal: Deno.Signal = "SIGTERM";

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dir: string,
    readonly command: string[],
    readonly ready: () => Promise<boolean>,
  ) {}

  /** Starts (or restarts) the process and waits until it answers. */
  async start(): Promise<this> {
    const child = new Deno.Command(this.command[0], {
      args: this.command.slice(1),
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).spawn();
    this.#child = child;
    // A process that exits before it answers (its port taken, say) fails the start at once.
    let gone: Deno.CommandStatus | null = null;
    void child.status.then((s) => (gone = s));
    await waitFor(async () => gone !== null || await this.ready(), {
      what: `${this.name} on port ${this.port}`,
    });
    if (gone !== null) {
      this.#child = null;
      const code = (gone as Deno.CommandStatus).code;
      throw new Error(`${this.name} exited (code ${code}) before it answered on port ${this.port}`);
    }
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
    await this.kill(this.stopSignal);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  get running(): boolean {
    return this.#child !== null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
