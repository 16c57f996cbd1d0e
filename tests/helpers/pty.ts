/** A socat pseudo-terminal pair standing in for a serial cable, with stable link names. */
import { waitFor } from "./servers.ts";

/** Two linked ptys: `device` is the gateway's end, `peer` the simulated device's end. */
export class PtyPair {
  #child: Deno.ChildProcess | null = null;

  constructor(readonly device: string, readonly peer: string) {}

  /** Creates a pair in a new temp dir (links `ttyVE0` and `ttyVE0.peer`). */
  static async create(): Promise<PtyPair> {
    const dir = await Deno.makeTempDir({ prefix: "pty-" });
    return await new PtyPair(`${dir}/ttyVE0`, `${dir}/ttyVE0.peer`).plug();
  }

  /** Starts socat (a replug: the links point at new pts devices). */
  async plug(): Promise<this> {
    this.#child = new Deno.Command("socat", {
      args: [
        `pty,raw,echo=0,link=${this.device}`,
        `pty,raw,echo=0,link=${this.peer}`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(async () => {
      await Deno.stat(this.device);
      await Deno.stat(this.peer);
      return true;
    }, { what: "socat pty links" });
    return this;
  }

  /** Kills socat: both ends disappear, as when a USB adapter is pulled. */
  async unplug(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child) return;
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(this.device).catch(() => {});
    await Deno.remove(this.peer).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.unplug();
  }
}
