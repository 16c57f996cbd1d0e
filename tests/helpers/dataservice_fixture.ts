/**
 * A Data-Service stand-in speaking its documented protocols: the IPC Unix socket (one JSON request line per connection, one
 * JSON response line) and the polling service's `polled-values` over HTTP on a
 * Unix socket. A protocol fixture, not our code.
 */

/** What the fixture saw and serves. */
export class DataServiceFixture {
  /** Every accepted write, in order. */
  readonly writes: { key: string; value: unknown }[] = [];
  readonly values = new Map<string, unknown>();
  /** id -> key, for write_by_id and bulk_write_by_id. */
  readonly ids = new Map<string, string>();
  /** What polled-values returns. */
  polled: Record<string, Record<string, unknown>> = {};
  #ipc: Deno.UnixListener | null = null;
  #http: Deno.Listener | null = null;
  /** Request lines the polling service received, as sent. */
  readonly requests: string[] = [];

  constructor(readonly ipcPath: string, readonly httpPath: string) {}

  /** A fixture in a new temp dir. */
  static async create(): Promise<DataServiceFixture> {
    const dir = await Deno.makeTempDir({ prefix: "dataservice-" });
    return new DataServiceFixture(`${dir}/dataservice.sock`, `${dir}/polling.sock`);
  }

  #answer(line: string): Record<string, unknown> {
    let req: Record<string, unknown>;
    try {
      req = JSON.parse(line);
    } catch {
      return { ok: false, error: "invalid json" };
    }
    const write = (key: string, value: unknown) => {
      this.values.set(key, value);
      this.writes.push({ key, value });
    };
    switch (req.action) {
      case "write":
        if (!req.key) return { ok: false, error: "key required" };
        write(String(req.key), req.value);
        return { ok: true };
      case "write_by_id": {
        if (!req.id) return { ok: false, error: "id required" };
        const key = this.ids.get(String(req.id));
        if (!key) return { ok: false, error: "id not found" };
        write(key, req.value);
        return { ok: true, key };
      }
      case "bulk_write_by_id": {
        if (!Array.isArray(req.updates)) return { ok: false, error: "updates must be a list" };
        const results = req.updates.map((u: { id?: string; value?: unknown }) => {
          const key = u.id ? this.ids.get(u.id) : undefined;
          if (!key) return { id: u.id, ok: false, error: u.id ? "id not found" : "id required" };
          write(key, u.value);
          return { id: u.id, ok: true, key };
        });
        return { ok: true, results };
      }
      default:
        return { ok: false, error: "unknown action" };
    }
  }

  /** Starts the IPC socket (mode 0600, like the real service). */
  startIpc(): void {
    this.#ipc = Deno.listen({ transport: "unix", path: this.ipcPath });
    Deno.chmodSync(this.ipcPath, 0o600);
    const listener = this.#ipc;
    (async () => {
      for await (const conn of listener) {
        (async () => {
          const buf = new Uint8Array(1 << 20);
          let text = "";
          try {
            while (!text.includes("\n")) {
              const n = await conn.read(buf);
              if (n === null) break;
              text += new TextDecoder().decode(buf.subarray(0, n));
            }
            const answer = this.#answer(text.split("\n")[0]);
            await conn.write(new TextEncoder().encode(JSON.stringify(answer) + "\n"));
          } finally {
            conn.close();
          }
        })().catch(() => {});
      }
    })().catch(() => {});
  }

  /** Stops the IPC socket (the service went away). */
  stopIpc(): void {
    this.#ipc?.close();
    this.#ipc = null;
    try {
      Deno.removeSync(this.ipcPath);
    } catch { /* gone */ }
  }

  /**
   * Starts polled-values over HTTP on its Unix socket. Strict as Python's http.server
   * is: only an origin-form target (`GET /deploy/... HTTP/1.1`) is routed; the absolute
   * form (`GET http://localhost/deploy/...`) gets 404.
   */
  startHttp(): void {
    try {
      Deno.removeSync(this.httpPath);
    } catch { /* none */ }
    const listener = Deno.listen({ transport: "unix", path: this.httpPath });
    this.#http = listener;
    (async () => {
      for await (const conn of listener) {
        (async () => {
          try {
            const head = await readHead(conn);
            const line = head.split("\r\n")[0];
            this.requests.push(line);
            const [, target] = line.split(" ");
            const ok = target === "/deploy/api/io/polled-values";
            const body = ok ? JSON.stringify(this.polled) : "not found";
            await conn.write(new TextEncoder().encode(
              `HTTP/1.1 ${ok ? "200 OK" : "404 Not Found"}\r\nContent-Type: ${
                ok ? "application/json" : "text/plain"
              }\r\nContent-Length: ${new TextEncoder().encode(body).length}\r\n` +
                `Connection: close\r\n\r\n${body}`,
            ));
          } finally {
            conn.close();
          }
        })().catch(() => {});
      }
    })().catch(() => {});
  }

  stop(): Promise<void> {
    this.stopIpc();
    this.#http?.close();
    this.#http = null;
    return Promise.resolve();
  }
}

/** Reads a request's head (up to the blank line). */
async function readHead(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  while (!text.includes("\r\n\r\n") && text.length < 65536) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}
