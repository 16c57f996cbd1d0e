/**
 * The gateway's periodic work (store flush, window aggregation, outbox
 * compaction, alert rules, summaries): each job on its own interval, never two
 * runs of one job at once, a failing run logged and the job kept.
 */
import type { Logger } from "./log.ts";
import { errorMessage } from "./status.ts";

interface Job {
  fn: () => unknown;
  timer?: ReturnType<typeof setInterval>;
  running: Promise<void> | null;
}

/** Runs jobs every so often until stopped. */
export class Scheduler {
  #jobs = new Map<string, Job>();

  constructor(readonly log: Logger) {}

  /** Runs `fn` every `ms` (a run still going when the next is due is not doubled). */
  every(name: string, ms: number, fn: () => unknown): void {
    const job: Job = { fn, running: null };
    job.timer = setInterval(() => void this.run(name), ms);
    this.#jobs.set(name, job);
  }

  /** Runs a job now (or joins the run in progress). */
  run(name: string): Promise<void> {
    const job = this.#jobs.get(name);
    if (!job) return Promise.resolve();
    job.running ??= (async () => {
      try {
        await job.fn();
      } catch (e) {
        this.log.warn(`${name} failed; it runs again on schedule`, { error: errorMessage(e) });
      } finally {
        job.running = null;
      }
    })();
    return job.running;
  }

  /** Stops every job and waits for the runs in progress. */
  async stop(): Promise<void> {
    for (const job of this.#jobs.values()) clearInterval(job.timer);
    await Promise.all([...this.#jobs.values()].map((j) => j.running));
    this.#jobs.clear();
  }
}
