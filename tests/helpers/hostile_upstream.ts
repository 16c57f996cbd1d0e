/**
 * A deliberately hostile HTTP upstream: a TCP port that either answers badly (Deno.serve behind
 * it: a 300 MiB error page, a body that never ends, a redirect to a login page or to another
 * origin) or, in `forward` mode, joins each connection byte for byte to a real server (influxd,
 * clickhouse-server, s3rver), so that signed requests (S3) arrive unchanged. It runs in a process
 * of its own (`hostile_upstream_main.ts`), so a test measuring its own memory measures the client,
 * not the 300 MiB the fixture streams. And the other origin, which records whatever reaches it.
 */

/** How the upstream answers. */
export type HostileMode =
  | "huge_error"
  | "endless"
  | "login_redirect"
  | "cross_redirect"
  | "forward";

/** A request that reached a server: its method, path and headers. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** The other origin of a cross-origin redirect: it records every request that reaches it. */
export interface RecordingServer {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** What a hostile upstream saw. */
export interface HostileState {
  mode: HostileMode;
  /** Requests the hostile server answered, per mode (forwarded ones are not seen). */
  answered: Record<string, number>;
  /**
   * The most bytes of one answer's body the client took, per mode (what the fixture handed to
   * its socket, so the client's read plus what the sockets between hold).
   */
  largest: Record<string, number>;
  /** Requests for the login page (a followed 302 would ask for it). */
  loginRequests: number;
}

/** A hostile upstream in this process. */
export interface ServedHostile extends HostileState {
  url: string;
  port: number;
  /** Switches the mode; open connections are cut so clients reconnect to the new behaviour. */
  setMode(mode: HostileMode): void;
  close(): Promise<void>;
}

/** A hostile upstream in its own process. */
export interface HostileUpstream {
  url: string;
  port: number;
  /** Switches the mode (open connections are cut). */
  setMode(mode: HostileMode): Promise<void>;
  state(): Promise<HostileState>;
  close(): Promise<void>;
}

/** Options of a hostile upstream: where `forward` goes, where `cross_redirect` points. */
export interface HostileOptions {
  mode: HostileMode;
  /** Port of the real server `forward` joins connections to. */
  target: number;
  /** The origin `cross_redirect` points at. */
  other: string;
}

/** Starts a hostile upstream in a process of its own; resolves once it listens. */
export async function startHostileUpstream(options: HostileOptions): Promise<HostileUpstream> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("./hostile_upstream_main.ts", import.meta.url).pathname,
      JSON.stringify(options),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) {
    const { done, value } = await lines.read();
    if (done) throw new Error("the hostile upstream exited before it listened");
    first += value;
  }
  lines.releaseLock();
  child.stdout.cancel().catch(() => {});
  const { port, control } = JSON.parse(first) as { port: number; control: number };
  const ctl = `http://127.0.0.1:${control}`;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async setMode(mode) {
      await (await fetch(`${ctl}/mode/${mode}`, { method: "POST" })).body?.cancel();
    },
    async state() {
      return await (await fetch(`${ctl}/state`)).json();
    },
    async close() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** The most of one answer the client may take: 16 MiB read, what the sockets between hold. */
export const TAKEN_BOUND = 64 * 1024 * 1024;

/** Bytes as MiB, per key (one decimal). */
export function mib(bytes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(bytes).map(([k, v]) => [k, Math.round(v / 2 ** 20 * 10) / 10]),
  );
}

/** Size of the `huge_error` body, streamed (never held in memory). */
export const HUGE_BODY = 300 * 1024 * 1024;

const CHUNK = new Uint8Array(64 * 1024).fill(0x61);

/** A body of `bytes` bytes (endless: Infinity), made as it is read; `took` counts what went. */
function streamOf(bytes: number, took: (sent: number) => void): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const n = Math.min(CHUNK.length, bytes - sent);
      sent += n;
      took(sent);
      controller.enqueue(CHUNK.slice(0, n));
    },
  });
}

/** A server that records every request (the other origin a 307 points at). */
export function startRecordingServer(): RecordingServer {
  const requests: SeenRequest[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    requests.push({
      method: req.method,
      path: new URL(req.url).pathname,
      headers: Object.fromEntries(req.headers),
    });
    await req.body?.cancel();
    return new Response("stolen", { status: 200 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/** A hostile upstream in this process (what `hostile_upstream_main.ts` runs). */
export function serveHostile(options: HostileOptions): ServedHostile {
  const answered: Record<string, number> = {};
  const largest: Record<string, number> = {};
  const up: ServedHostile = {
    url: "",
    port: 0,
    mode: options.mode,
    answered,
    loginRequests: 0,
    largest,
    setMode(mode) {
      up.mode = mode;
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      conns.clear();
    },
    close: async () => {
      listener.close();
      up.setMode(up.mode);
      await server.shutdown();
    },
  };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    await req.body?.cancel().catch(() => {});
    if (path === "/login") {
      up.loginRequests++;
      return new Response("<html><form>login</form></html>", {
        headers: { "Content-Type": "text/html" },
      });
    }
    const mode = up.mode;
    answered[mode] = (answered[mode] ?? 0) + 1;
    const took = (sent: number) => largest[mode] = Math.max(largest[mode] ?? 0, sent);
    switch (mode) {
      case "huge_error":
        return new Response(streamOf(HUGE_BODY, took), {
          status: 500,
          headers: { "Content-Type": "text/plain", "Content-Length": String(HUGE_BODY) },
        });
      case "endless":
        return new Response(streamOf(Number.POSITIVE_INFINITY, took), {
          headers: { "Content-Type": "application/json" },
        });
      case "login_redirect":
        return new Response("moved", { status: 302, headers: { Location: "/login" } });
      default:
        return new Response("moved", {
          status: 307,
          headers: { Location: `${options.other}${path}` },
        });
    }
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  up.port = listener.addr.port;
  up.url = `http://127.0.0.1:${up.port}`;
  const join = async (conn: Deno.Conn) => {
    const port = up.mode === "forward" ? options.target : server.addr.port;
    let other: Deno.Conn;
    try {
      other = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      conn.close();
      return;
    }
    conns.add(conn);
    conns.add(other);
    const end = () => {
      for (const c of [conn, other]) {
        conns.delete(c);
        try {
          c.close();
        } catch { /* closed */ }
      }
    };
    // Either side ending ends both (HTTP clients do not half-close).
    await Promise.race([
      conn.readable.pipeTo(other.writable, { preventClose: true }).catch(() => {}),
      other.readable.pipeTo(conn.writable, { preventClose: true }).catch(() => {}),
    ]);
    end();
  };
  (async () => {
    for await (const conn of listener) void join(conn);
  })().catch(() => {});
  return up;
}
