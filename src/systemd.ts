/**
 * systemd's notify protocol (sd_notify): READY=1 once sources and sinks run,
 * WATCHDOG=1 from the event loop (a hung gateway misses them and is
 * restarted), STOPPING=1 on shutdown. A no-op outside systemd.
 */
import type { Logger } from "./log.ts";
import { errorMessage } from "./status.ts";

/** Sends notifications to NOTIFY_SOCKET. */
export class Notifier {
  #conn: Deno.DatagramConn | null = null;
  #dir: string | null = null;
  #path: string | null = null;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  private constructor(readonly socket: string | null, readonly log: Logger) {}

  /** A notifier for this process' environment (NOTIFY_SOCKET, WATCHDOG_USEC). */
  static fromEnv(log: Logger): Notifier {
    return new Notifier(Deno.env.get("NOTIFY_SOCKET") ?? null, log);
  }

  async #send(message: string): Promise<void> {
    if (!this.socket) return;
    try {
      if (!this.#conn) {
        // A datagram socket needs an address of its own: a file in the service's runtime
        // directory (RuntimeDirectory=, writable under its narrow permissions) or a temp dir.
        const runtime = Deno.env.get("RUNTIME_DIRECTORY")?.split(":")[0];
        if (runtime) this.#path = `${runtime}/notify-${Deno.pid}`;
        else {
          this.#dir = await Deno.makeTempDir({ prefix: "edge-notify-" });
          this.#path = `${this.#dir}/s`;
        }
        await Deno.remove(this.#path).catch(() => {});
        this.#conn = Deno.listenDatagram({ transport: "unixpacket", path: this.#path });
      }
      const path = this.socket.startsWith("@") ? `\0${this.socket.slice(1)}` : this.socket;
      await this.#conn.send(
        new TextEncoder().encode(message),
        { transport: "unix", path } as Deno.UnixAddr,
      );
    } catch (e) {
      this.log.warn("systemd notification failed", { socket: this.socket, error: errorMessage(e) });
    }
  }

  /** Tells systemd the gateway is ready, and starts watchdog pings if it asks for them. */
  async ready(status: string): Promise<void> {
    await this.#send(`READY=1\nSTATUS=${status}`);
    const usec = Number(Deno.env.get("WATCHDOG_USEC") ?? 0);
    const pid = Deno.env.get("WATCHDOG_PID");
    if (usec > 0 && (!pid || Number(pid) === Deno.pid)) {
      // Twice per interval, from the event loop: if the loop hangs, the pings stop.
      this.#watchdog = setInterval(() => void this.#send("WATCHDOG=1"), Math.max(50, usec / 2000));
    }
  }

  /** Tells systemd the gateway is stopping, and stops the watchdog. */
  async stopping(): Promise<void> {
    clearInterval(this.#watchdog);
    await this.#send("STOPPING=1");
  }

  /** Releases the socket. */
  async close(): Promise<void> {
    clearInterval(this.#watchdog);
    this.#conn?.close();
    this.#conn = null;
    if (this.#dir) await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    else if (this.#path) await Deno.remove(this.#path).catch(() => {});
  }
}
