/** The base of the tests' real servers: free ports, waiting, and a server process. */
import type { TestCa } from "./tls.ts";

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
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
