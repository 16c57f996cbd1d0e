/**
 * A task that runs one at a time, whatever the number of callers: a call while it runs asks for
 * one more run after it, and every call made until that run starts shares it. Sixty requests
 * during one run make one more run, not sixty, and never two at once (a config reload: SIGHUP
 * storms, POST /reload).
 */
export class OneAtATime<T> {
  #running: Promise<T> | null = null;
  #next: Promise<T> | null = null;
  #closed = false;
  /** Runs made, and calls that joined a run asked for earlier. */
  readonly counts = { runs: 0, coalesced: 0 };

  /** `task` is the work; `refused` answers a call made once {@link close} was called. */
  constructor(readonly task: () => Promise<T>, readonly refused: () => T) {}

  /** Runs the task, or joins the run that follows the one in progress. */
  run(): Promise<T> {
    if (this.#closed) return Promise.resolve(this.refused());
    if (this.#next) {
      this.counts.coalesced++;
      return this.#next;
    }
    if (!this.#running) return this.#start();
    // A run in progress may have read its input before this call: one more follows it.
    const next = this.#running.catch(() => {}).then(() => {
      this.#next = null;
      return this.#closed ? this.refused() : this.#start();
    });
    this.#next = next;
    return next;
  }

  #start(): Promise<T> {
    this.counts.runs++;
    const run: Promise<T> = this.task().finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }

  /** Refuses further calls and waits for the run in progress (and the one asked after it). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#next?.catch(() => {});
    await this.#running?.catch(() => {});
  }
}
