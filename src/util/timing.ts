/** Resolves after `ms`, or at once when `signal` aborts. */
export function delay(ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  return new Promise((resolve) => {
    if (options.signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", done);
      resolve();
    }
    options.signal?.addEventListener("abort", done, { once: true });
  });
}

/** Rejects with a message naming `what` when `promise` takes longer than `ms`. */
export async function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Exponential backoff with full jitter: a random delay in [min, min(max, min * 2^attempt)]. */
export function backoffDelay(attempt: number, options: { min: number; max: number }): number {
  const cap = Math.min(options.max, options.min * 2 ** Math.min(attempt, 30));
  return options.min + Math.random() * (cap - options.min);
}

/** A sleep that can be cut short: loops wait on it and events (new data, stop) wake them. */
export class Snooze {
  #wake: AbortController | null = null;

  /** Sleeps on `clock` (the real one by default), so tests can move the time instead of waiting. */
  constructor(
    readonly clock: { sleep(ms: number, options?: { signal?: AbortSignal }): Promise<void> } = {
      sleep: delay,
    },
  ) {}

  /** Resolves after `ms`, or earlier when {@link wake} is called. */
  async sleep(ms: number): Promise<void> {
    const wake = new AbortController();
    this.#wake = wake;
    try {
      await this.clock.sleep(ms, { signal: wake.signal });
    } finally {
      if (this.#wake === wake) this.#wake = null;
    }
  }

  /** Ends the current sleep, if any. */
  wake(): void {
    this.#wake?.abort();
  }
}
