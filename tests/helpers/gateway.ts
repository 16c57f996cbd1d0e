/** A gateway in its own process (production flags) for tests and benches that push it hard. */
import { spawnGateway } from "./cli.ts";
import { freePort, waitFor } from "./servers.ts";

/** A running gateway process. */
export interface GatewayProcess {
  url: string;
  port: number;
  /** The temp dir holding gateway.yml and the data dir (`dir/data`). */
  dir: string;
  child: Deno.ChildProcess;
  /** Resident memory now (MiB). */
  rssMiB(): number;
  /** The highest resident memory seen since the start (sampled every 50 ms). */
  peakRssMiB(): number;
  /** Waits until /health says `component` (`mqtt.units`) is up. */
  up(component: string): Promise<void>;
  status(): Promise<StatusDoc>;
  /** GET /health: status code and body. */
  health(): Promise<{ code: number; body: { status: string; components: Record<string, string> } }>;
  /** SIGTERM, wait, and collect stderr. */
  stop(): Promise<string>;
}

/** The parts of /status the tests read. */
export interface StatusDoc {
  sources: Record<string, Status>;
  sinks: Record<string, Status & { queue: { records: number; bytes: number } }>;
  outbox: Status;
  store: Status;
  http: Status;
  reload: { ok: boolean; errors?: string[] } | null;
  [key: string]: unknown;
}

/** The parts of a component's /status the tests read. */
export interface Status {
  state: string;
  processed: number;
  failed: number;
  counters: Record<string, number>;
  dropped: Record<string, number>;
  [key: string]: unknown;
}

/** Resident memory of a process in MiB (Linux). */
export function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * Writes `yaml(port, dataDir)` to a temp dir and starts the gateway on it; resolves once
 * /health answers. `dir` reuses a data dir (a restart).
 */
export async function startGateway(
  yaml: (port: number, dataDir: string) => string,
  options: {
    dir?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    nofile?: number;
    /** Deno flags instead of the run task's (a bench adds a profiler's). */
    flags?: string[];
  } = {},
): Promise<GatewayProcess> {
  const port = freePort();
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "gateway-" });
  await Deno.writeTextFile(`${dir}/gateway.yml`, yaml(port, `${dir}/data`));
  const child = spawnGateway(`${dir}/gateway.yml`, {
    env: options.env,
    nofile: options.nofile,
    flags: options.flags,
  });
  const url = `http://127.0.0.1:${port}`;
  const stderr = new Response(child.stderr).text();
  // A gateway that exits before it answers (a bad config, its port taken) fails at once.
  let exited: number | null = null;
  void child.status.then((s) => (exited = s.code));
  try {
    await waitFor(async () => exited !== null || (await fetch(`${url}/health`)).status > 0, {
      what: `gateway on port ${port}`,
      timeoutMs: options.timeoutMs,
    });
    if (exited !== null) throw new Error(`gateway on port ${port} exited (code ${exited})`);
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    throw new Error(`${(e as Error).message}; its log:\n${(await stderr).slice(-2000)}`);
  }
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(child.pid));
    } catch { /* exited */ }
  }, 50);
  const health = async () => {
    const res = await fetch(`${url}/health`);
    return { code: res.status, body: await res.json() };
  };
  return {
    url,
    port,
    dir,
    child,
    rssMiB: () => rssMiB(child.pid),
    peakRssMiB: () => peak,
    up: (component) =>
      waitFor(async () => (await health()).body.components[component] === "up", {
        what: `${component} up`,
      }),
    status: async () => await (await fetch(`${url}/status`)).json(),
    health,
    async stop() {
      clearInterval(sampler);
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      return await stderr;
    },
  };
}
