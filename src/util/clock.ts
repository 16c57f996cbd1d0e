/**
 * Where components read the time and wait. Production uses {@link systemClock};
 * tests pass a shifted or fake clock so no result depends on the hour of the run.
 */
import { delay } from "./timing.ts";

/** Time source and waits of a component. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin that never step (CLOCK_MONOTONIC): what the wall
   * clock is watched against. Absent: the process's `performance.now()`.
   */
  monotonic?(): number;
  /** Resolves after `ms` of this clock's time, or at once when `signal` aborts. */
  sleep(ms: number, options?: { signal?: AbortSignal }): Promise<void>;
}

/** The real wall clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: delay,
};

/**
 * A clock that runs at real speed but starts at `at` (tests: the simulated sun
 * at a chosen hour, while real servers and sockets keep real time).
 */
export function shiftedClock(at: number): Clock {
  const offset = at - Date.now();
  return { now: () => Date.now() + offset, monotonic: () => performance.now(), sleep: delay };
}

/**
 * A clock at real speed whose wall time a test steps (`step(ms)`) while its monotonic time
 * runs on, as NTP or an operator steps the system clock of a running process.
 */
export class SteppableClock implements Clock {
  #offset: number;

  constructor(at: number = Date.now()) {
    this.#offset = at - Date.now();
  }

  now(): number {
    return Date.now() + this.#offset;
  }

  monotonic(): number {
    return performance.now();
  }

  sleep(ms: number, options?: { signal?: AbortSignal }): Promise<void> {
    return delay(ms, options);
  }

  /** Steps the wall time by `ms` (negative: back). */
  step(ms: number): void {
    this.#offset += ms;
  }
}

/**
 * A clock that moves only when told to: `advance(ms)` runs the sleeps that end
 * within the step, in time order; `step(ms)` moves the wall time alone (a clock
 * step: sleeps, on the monotonic time, are not woken). For unit tests of time-driven code.
 */
export class FakeClock implements Clock {
  #now: number;
  /** The wall time minus the monotonic time: changed only by {@link step}. */
  #offset: number;
  #sleepers: { until: number; resolve: () => void }[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
    this.#offset = start;
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#now - this.#offset;
  }

  /** Steps the wall time by `ms` (negative: back); the monotonic time does not move. */
  step(ms: number): void {
    this.#now += ms;
    this.#offset += ms;
    for (const s of this.#sleepers) s.until += ms;
  }

  sleep(ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    return new Promise((resolve) => {
      if (options.signal?.aborted) return resolve();
      const sleeper = { until: this.#now + Math.max(0, ms), resolve };
      this.#sleepers.push(sleeper);
      options.signal?.addEventListener("abort", () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        resolve();
      }, { once: true });
    });
  }

  /** Moves time forward by `ms`, waking sleepers in order and letting their work run. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      this.#sleepers.sort((a, b) => a.until - b.until);
      const next = this.#sleepers[0];
      if (!next || next.until > target) break;
      this.#sleepers.shift();
      this.#now = next.until;
      next.resolve();
      // Let the woken code run up to its next sleep before moving on.
      for (let i = 0; i < 20; i++) await Promise.resolve();
    }
    this.#now = target;
  }

  /** Sleepers waiting now. */
  get waiting(): number {
    return this.#sleepers.length;
  }
}
