/**
 * The TCP front of the HTTP server. Deno.serve has no connection limit and no
 * idle timeout (an idle connection stays open for ever), and when accept()
 * fails with "Too many open files" the server stops, and the error escapes.
 * The gate owns the public socket: it accepts at most `maxConnections`, closes
 * connections that stay silent, survives accept errors, and pipes each
 * connection to the real server listening on a Unix socket.
 */
import { type ComponentStatus, errorMessage } from "../status.ts";

/** Options of {@link ConnectionGate}. */
export interface GateOptions {
  hostname: string;
  port: number;
  /** The Unix socket the HTTP server listens on. */
  target: string;
  /** Connections served at once; more are closed at once (counted `refused_connections`). */
  maxConnections: number;
  /** A connection with no bytes either way for this long is closed (ms). */
  idleTimeout: number;
  /** The first bytes of a request must come within this long (ms). */
  headerTimeout: number;
  status: ComponentStatus;
}

interface Piped {
  client: Deno.Conn;
  server: Deno.Conn | null;
  /** Monotonic ms (performance.now): a step of the wall clock neither closes nor keeps it. */
  opened: number;
  last: number;
  /** Bytes received from the client. */
  received: number;
}

const BUFFER = 16 * 1024;

function closeQuietly(c: Deno.Conn | null): void {
  try {
    c?.close();
  } catch { /* closed already */ }
}

/** Accepts, bounds and forwards TCP connections to the HTTP server's Unix socket. */
export class ConnectionGate {
  #listener: Deno.Listener | null = null;
  #open = new Set<Piped>();
  #sweep: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void> | null = null;

  constructor(readonly options: GateOptions) {}

  /** The address the gate listens on. */
  get addr(): Deno.NetAddr | null {
    return (this.#listener?.addr as Deno.NetAddr | undefined) ?? null;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#open.size;
  }

  /** Starts listening (throws when the port cannot be had, e.g. in use). */
  start(): void {
    const o = this.options;
    this.#listener = Deno.listen({ hostname: o.hostname, port: o.port });
    this.#loop = this.#accept(this.#listener);
    this.#sweep = setInterval(() => this.#closeIdle(), Math.min(1000, o.headerTimeout));
  }

  async #accept(listener: Deno.Listener): Promise<void> {
    const { status } = this.options;
    let pause = 10;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
        pause = 10;
      } catch (e) {
        if (this.#listener !== listener) return; // stopped
        // Out of file descriptors (or a transient network error): wait, keep listening.
        status.count("accept_errors");
        status.fail(new Error(`HTTP accept failed: ${errorMessage(e)}`));
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(1000, pause * 2);
        continue;
      }
      if (this.#open.size >= this.options.maxConnections) {
        status.count("refused_connections");
        closeQuietly(conn);
        continue;
      }
      void this.#forward(conn);
    }
  }

  async #forward(client: Deno.Conn): Promise<void> {
    const now = performance.now();
    const p: Piped = { client, server: null, opened: now, last: now, received: 0 };
    this.#open.add(p);
    try {
      p.server = await Deno.connect({ transport: "unix", path: this.options.target });
      await Promise.all([
        this.#pipe(p, client, p.server, true),
        this.#pipe(p, p.server, client, false),
      ]);
    } catch (e) {
      this.options.status.count("forward_errors");
      this.options.status.fail(new Error(`HTTP connection failed: ${errorMessage(e)}`));
    } finally {
      closeQuietly(client);
      closeQuietly(p.server);
      this.#open.delete(p);
    }
  }

  async #pipe(p: Piped, from: Deno.Conn, to: Deno.Conn, fromClient: boolean): Promise<void> {
    const buf = new Uint8Array(BUFFER);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        p.last = performance.now();
        if (fromClient) p.received += n;
        for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
      }
    } catch {
      // The other side closed or the gate closed it: end both directions.
    }
    closeQuietly(fromClient ? p.server : p.client);
  }

  #closeIdle(): void {
    const now = performance.now();
    const o = this.options;
    for (const p of this.#open) {
      const silent = p.received === 0 && now - p.opened > o.headerTimeout;
      if (silent || now - p.last > o.idleTimeout) {
        o.status.count(silent ? "header_timeouts" : "idle_timeouts");
        closeQuietly(p.client);
        closeQuietly(p.server);
      }
    }
  }

  /** Stops accepting and closes every connection. */
  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    const listener = this.#listener;
    this.#listener = null;
    try {
      listener?.close();
    } catch { /* closed already */ }
    await this.#loop;
    for (const p of this.#open) {
      closeQuietly(p.client);
      closeQuietly(p.server);
    }
  }
}
