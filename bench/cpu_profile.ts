/**
 * A CPU profile of a gateway process through its V8 inspector (`--inspect`):
 * started before a measured burst, written as a `.cpuprofile` that Chrome
 * DevTools or speedscope open, with the heaviest functions printed.
 */
import { freePort } from "../tests/helpers/servers.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** A profiling session on a process started with {@link inspectFlag}. */
export class CpuProfile {
  #ws: WebSocket;
  #next = 0;
  #waiting = new Map<number, (result: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.id) this.#waiting.get(m.id)?.(m.result);
    };
  }

  /** Connects to the inspector on `port` and starts sampling (every 200 µs). */
  static async start(port: number): Promise<CpuProfile> {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const profile = new CpuProfile(ws);
    await profile.#call("Profiler.enable");
    await profile.#call("Profiler.setSamplingInterval", { interval: 200 });
    await profile.#call("Profiler.start");
    return profile;
  }

  #call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.#next;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Stops sampling, writes the profile to `file`, returns the top self-time entries. */
  async stop(file: string, options: { top?: number } = {}): Promise<string[]> {
    const { profile } = await this.#call("Profiler.stop") as {
      profile: { nodes: ProfileNode[]; samples: number[] };
    };
    this.#ws.close();
    await Deno.writeTextFile(file, JSON.stringify(profile));
    const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    for (const id of profile.samples) {
      const f = byNode.get(id)!.callFrame;
      const where = f.url ? ` ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}` : "";
      const key = `${f.functionName || "(anonymous)"}${where}`;
      self.set(key, (self.get(key) ?? 0) + 1);
    }
    const total = profile.samples.length;
    return [...self].sort((a, b) => b[1] - a[1]).slice(0, options.top ?? 15)
      .map(([k, n]) => `${(100 * n / total).toFixed(1).padStart(5)}% ${k}`);
  }
}

/** A Deno flag opening the inspector on a free port, and that port. */
export function inspectFlag(): { flag: string; port: number } {
  const port = freePort();
  return { flag: `--inspect=127.0.0.1:${port}`, port };
}
