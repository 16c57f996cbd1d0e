/**
 * A hand-over the pipeline refused (the outbox is full with `on_full: reject_new`, or the disk
 * is), kept and tried again until it is taken: a full disk is a state the source waits out, not
 * a batch thrown away. While it waits the source takes nothing more (its queue fills and reading
 * pauses: the broker keeps the rest), so memory stays within the source's own bound.
 */
import type { Logger } from "../log.ts";
import type { ComponentStatus } from "../status.ts";
import { backoffDelay, Snooze } from "../util/timing.ts";

/** The first wait before a refused hand-over is tried again, and the longest. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;

/** What a held hand-over shows in the source's /status (`held`). */
export interface HeldInfo {
  /** Items waiting in the refused hand-over. */
  items: number;
  since: string;
  attempts: number;
  error: string;
}

/** Tries a source's refused hand-overs again, one at a time, until taken or stopped. */
export class OutboxHold {
  #snooze = new Snooze();
  #stopped = false;
  #held: HeldInfo | null = null;

  constructor(
    readonly options: {
      status: ComponentStatus;
      log: Logger;
      /** Told when a hand-over starts or stops being held (the source shows it in its state). */
      changed?(held: boolean): void;
    },
  ) {}

  /** Whether a refused hand-over is waiting now. */
  get holding(): boolean {
    return this.#held !== null;
  }

  /**
   * Runs `handOver` until it resolves; `items` is what it carries (for the figures). Resolves
   * true once taken, false when the source stopped before (nothing was taken: the caller drops
   * or leaves unacknowledged).
   */
  async run(handOver: () => Promise<void>, items: number): Promise<boolean> {
    const { status, log } = this.options;
    for (let attempt = 0;; attempt++) {
      try {
        await handOver();
        if (attempt > 0) this.#release(attempt);
        return true;
      } catch (e) {
        // Counted as failed once; later attempts only refresh the last error (redacted there).
        status.fail(e, attempt === 0 ? items : 0);
        if (this.#stopped) {
          if (attempt > 0) this.#release(attempt);
          return false;
        }
        if (attempt === 0) {
          status.count("held");
          this.#held = { items, since: new Date().toISOString(), attempts: 0, error: "" };
          status.info.held = this.#held;
          log.warn("the pipeline refused samples; holding them and trying again", {
            items,
            error: status.lastError?.message,
          });
          this.options.changed?.(true);
        }
        this.#held!.attempts = attempt + 1;
        this.#held!.error = status.lastError?.message ?? "";
        await this.#snooze.sleep(backoffDelay(attempt, { min: RETRY_MIN_MS, max: RETRY_MAX_MS }));
      }
    }
  }

  #release(attempts: number): void {
    const held = this.#held;
    this.#held = null;
    delete this.options.status.info.held;
    this.options.log.info("held samples handed over; taking more again", {
      items: held?.items,
      attempts,
      since: held?.since,
    });
    this.options.changed?.(false);
  }

  /** Ends the waiting: a held hand-over is tried once more, then given up. */
  stop(): void {
    this.#stopped = true;
    this.#snooze.wake();
  }
}
