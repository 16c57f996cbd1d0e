import type { Clock } from "../util/clock.ts";
import { Snooze } from "../util/timing.ts";

/** Runs a polling cycle until stopped; the cycle returns how long to wait before the next. */
export class PollLoop {
  #running = false;
  #done: Promise<void> | null = null;
  readonly #snooze: Snooze;

  constructor(clock: Clock) {
    this.#snooze = new Snooze(clock);
  }

  /** Starts cycling in the background. */
  start(cycle: () => Promise<number>): void {
    this.#running = true;
    this.#done = (async () => {
      while (this.#running) {
        const wait = await cycle();
        if (this.#running) await this.#snooze.sleep(wait);
      }
    })();
  }

  /** Ends the wait at once and resolves after the cycle in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#snooze.wake();
    await this.#done;
  }
}
