/**
 * The HTTP API as a component: Deno.serve on a Unix socket in the data dir,
 * behind the {@link ConnectionGate} on the configured TCP address. If the
 * server ever stops with an error, it is started again. The TCP port is bound
 * first, so a gateway that cannot have it never touches the socket, and a
 * server only ever removes a socket it bound itself.
 */
import type { Logger } from "../log.ts";
import { ComponentStatus, errorMessage } from "../status.ts";
import { ConnectionGate } from "./gate.ts";

/** Options of {@link HttpServer}. */
export interface HttpServerOptions {
  hostname: string;
  port: number;
  /** Where the Unix socket between the gate and the server goes. */
  socketDir: string;
  maxConnections: number;
  /** Connections from one remote address at once. */
  maxPerClient: number;
  /** The configured tokens: their holders may use the gate's reserved slots. */
  tokens?: string[];
  idleTimeout: number;
  headerTimeout: number;
  log: Logger;
}

// Unix socket paths are limited to 108 bytes on Linux.
const MAX_SOCKET_PATH = 100;

/** Serves a fetch handler on a bounded TCP front. */
export class HttpServer {
  readonly status = new ComponentStatus("http", "http");
  #server: Deno.HttpServer | null = null;
  #gate: ConnectionGate | null = null;
  #socket = "";
  /** Whether this server bound {@link #socket} (and so may remove it). */
  #bound = false;
  #stopped = false;

  constructor(
    readonly handler: (request: Request) => Response | Promise<Response>,
    readonly options: HttpServerOptions,
  ) {}

  /** The TCP address the API answers on. */
  get address(): { hostname: string; port: number } | null {
    const a = this.#gate?.addr;
    return a ? { hostname: a.hostname, port: a.port } : null;
  }

  /** Listens; throws a message naming the address when it is taken. */
  start(): void {
    const o = this.options;
    this.#socket = `${o.socketDir}/http.sock`;
    if (this.#socket.length > MAX_SOCKET_PATH) {
      this.#socket = `${Deno.makeTempDirSync({ prefix: "edge-gateway-" })}/http.sock`;
    }
    this.#gate = new ConnectionGate({ ...o, target: this.#socket, status: this.status });
    try {
      this.#gate.start();
    } catch (e) {
      this.#gate = null;
      throw new Error(
        `cannot listen on ${o.hostname}:${o.port} (http.host/http.port, or GATEWAY_HTTP_PORT ` +
          `in the demo config): ${errorMessage(e)}`,
      );
    }
    try {
      this.#serve();
    } catch (e) {
      // The port is ours but the server behind it cannot start: give the port back.
      void this.#gate.stop();
      this.#gate = null;
      throw e;
    }
    Object.defineProperty(this.status.info, "connections", {
      enumerable: true,
      configurable: true,
      get: () => this.#gate?.connections ?? 0,
    });
    this.status.state = "up";
  }

  #serve(): void {
    // A socket left here is this server's own from before a restart, or a killed gateway's:
    // the data dir's lock says no live gateway serves on it.
    this.#removeSocket();
    const server = Deno.serve({
      path: this.#socket,
      onListen: () => {},
      onError: (e) => {
        this.status.fail(e);
        return new Response(JSON.stringify({ error: errorMessage(e) }), { status: 500 });
      },
    }, this.handler);
    this.#bound = true;
    this.#server = server;
    server.finished.catch((e) => {
      if (this.#stopped) return;
      this.status.count("restarts");
      this.status.fail(e);
      this.options.log.error("HTTP server stopped; starting it again", { error: errorMessage(e) });
      setTimeout(() => !this.#stopped && this.#serve(), 500);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#gate?.stop();
    await this.#server?.shutdown().catch(() => {});
    if (this.#bound) this.#removeSocket();
    this.status.state = "stopped";
  }

  #removeSocket(): void {
    try {
      Deno.removeSync(this.#socket);
    } catch { /* not there */ }
    this.#bound = false;
  }
}
