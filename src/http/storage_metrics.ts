/** What the gateway writes to its storage in /metrics: the card's wear, as an owner watches it. */
import type { Counter, Registry } from "prom-client";
import type { StatusJson } from "../status_report.ts";

/** The prom-client classes used (the module is loaded with the first scrape). */
type PromClient = { Counter: typeof Counter };

/**
 * write_bytes of the process's /proc/<pid>/io (Linux), or null where there is none. Deno lets
 * only --allow-all read /proc/<pid>/io; the service may run `cat` (the serial port reader), so
 * it is read through `cat`, once per scrape.
 */
async function writtenBytes(): Promise<number | null> {
  try {
    const out = await new Deno.Command("cat", {
      args: [`/proc/${Deno.pid}/io`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = /write_bytes:\s+(\d+)/.exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Registers the storage metrics; `snap` gives the /status document of the scrape. */
export function registerStorageMetrics(
  client: PromClient,
  registry: Registry,
  snap: () => StatusJson | null,
): void {
  // What the process wrote to storage (the SD card's wear), as the kernel counts it.
  new client.Counter({
    name: "edge_process_written_bytes_total",
    help: "Bytes the gateway process caused to be written to storage (/proc/self/io write_bytes)",
    registers: [registry],
    async collect() {
      this.reset();
      const written = await writtenBytes();
      if (written !== null) this.inc(written);
    },
  });
  const commitFigure = (
    name: string,
    help: string,
    key: "commits" | "fsyncs" | "checkpoints" | "skipped",
  ) =>
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(snap()?.outbox.commits?.[key] ?? 0);
      },
    });
  commitFigure("edge_commits_total", "Group commits of the outbox and the store", "commits");
  commitFigure(
    "edge_fsyncs_total",
    "fsyncs of the gateway's commits and WAL checkpoints (outbox and store)",
    "fsyncs",
  );
  commitFigure("edge_checkpoints_total", "WAL checkpoints of the outbox and store", "checkpoints");
  commitFigure(
    "edge_commits_skipped_total",
    "Outbox commits not made: everything taken in the interval went upstream first",
    "skipped",
  );
}
