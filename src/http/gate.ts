/**
 * The TCP front of the HTTP server. Deno.serve has no connection limit and no
 * idle timeout (an idle connection stays open for ever), and when accept()
 * fails with "Too many open files" the server stops, and the error escapes.
 * The gate owns the public socket: it accepts at most `maxConnections`, and at
 * most `maxPerClient` of them from one address (so one busy or hostile client
 * cannot take the slots an operator needs). When tokens are configured, the
 * last eighth of the slots is kept for connections whose first request carries
 * one, so a flood from many addresses still leaves the operator a way in: a
 * connection arriving there is forwarded only once its request's head shows a
 * token, and while it waits for that head a newer arrival may take its slot
 * (silent connections cannot hold the reserve). It closes connections that
 * stay silent, survives accept errors, and pipes each connection to the real
 * server listening on a Unix socket.
 */
import { type ComponentStatus, errorMessage } from "../status.ts";
import { tokenMatches } from "./auth.ts";

/** Options of {@link ConnectionGate}. */
export interface GateOptions {
  hostname: string;
  port: number;
  /** The Unix socket the HTTP server listens on. */
  target: string;
  /** Connections served at once; more are closed at once (counted `refused_connections`). */
  maxConnections: number;
  /** Connections from one remote address at once; more are closed at once (`refused_client_connections`). */
  maxPerClient: number;
  /** The configured tokens (mutating, read): holders may use the reserved slots. */
  tokens?: string[];
  /** A connection with no bytes either way for this long is closed (ms). */
  idleTimeout: number;
  /** The first bytes of a request must come within this long (ms). */
  headerTimeout: number;
  status: ComponentStatus;
}

interface Piped {
  client: Deno.Conn;
  /** The remote address, the key of the per-client count. */
  from: string;
  server: Deno.Conn | null;
  /** Monotonic ms (performance.now): a step of the wall clock neither closes nor keeps it. */
  opened: number;
  last: number;
  /** Bytes received from the client. */
  received: number;
  /** In a reserved slot: "waiting" for a head with a token (evictable), then "trusted". */
  reserved?: "waiting" | "trusted";
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
  /** Open connections by remote address (only addresses with one open: bounded by the cap). */
  #perClient = new Map<string, number>();
  /** The connections in reserved slots, oldest first. */
  #zone = new Set<Piped>();
  /** Connections in open slots (an evicted waiter is in neither count, only until it closes). */
  #general = 0;
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
      const from = (conn.remoteAddr as Deno.NetAddr).hostname;
      const held = this.#perClient.get(from) ?? 0;
      const slot = held < this.options.maxPerClient ? this.#slot() : "per_client";
      if (slot === "per_client" || slot === null) {
        status.count(slot ? "refused_client_connections" : "refused_connections");
        closeQuietly(conn);
        continue;
      }
      this.#perClient.set(from, held + 1);
      void this.#forward(conn, from, slot === "reserved");
    }
  }

  /** Where a new connection goes: an open slot, a reserved one (evicting a waiter), or none. */
  #slot(): "open" | "reserved" | null {
    const reserved = this.#reserved;
    if (this.#general < this.options.maxConnections - reserved) return "open";
    if (reserved === 0) return null;
    if (this.#zone.size < reserved) return "reserved";
    for (const p of this.#zone) {
      if (p.reserved !== "waiting") continue;
      this.#zone.delete(p);
      this.options.status.count("refused_without_token");
      closeQuietly(p.client);
      return "reserved";
    }
    return null;
  }

  /** Slots only a connection carrying a token may take (none when no token is configured). */
  get #reserved(): number {
    return this.options.tokens?.length ? Math.floor(this.options.maxConnections / 8) : 0;
  }

  async #forward(client: Deno.Conn, from: string, reserved: boolean): Promise<void> {
    const now = performance.now();
    const p: Piped = { client, from, server: null, opened: now, last: now, received: 0 };
    this.#open.add(p);
    if (reserved) {
      p.reserved = "waiting";
      this.#zone.add(p);
    } else this.#general++;
    try {
      // In a reserved slot, the request's head must show a token before anything is forwarded.
      const head = reserved ? await this.#head(p) : null;
      if (reserved && (!head || !this.#zone.has(p))) {
        if (this.#zone.delete(p)) this.options.status.count("refused_without_token");
        return;
      }
      if (reserved) p.reserved = "trusted";
      p.server = await Deno.connect({ transport: "unix", path: this.options.target });
      for (let off = 0; head && off < head.length;) off += await p.server.write(head.subarray(off));
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
      this.#zone.delete(p);
      if (!reserved) this.#general--;
      const left = (this.#perClient.get(from) ?? 1) - 1;
      if (left > 0) this.#perClient.set(from, left);
      else this.#perClient.delete(from);
    }
  }

  /** The connection's first bytes when they carry a configured bearer token; null otherwise. */
  async #head(p: Piped): Promise<Uint8Array | null> {
    const buf = new Uint8Array(BUFFER);
    const n = await p.client.read(buf).catch(() => null);
    if (!n) return null;
    p.received += n;
    p.last = performance.now();
    const text = new TextDecoder().decode(buf.subarray(0, n));
    const given = /^authorization:[ \t]*bearer +(\S+)[ \t]*\r?$/im.exec(text)?.[1];
    if (given === undefined) return null;
    let ok = false;
    for (const t of this.options.tokens ?? []) ok = tokenMatches(given, t) || ok;
    return ok ? buf.subarray(0, n) : null;
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
