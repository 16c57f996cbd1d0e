/**
 * The per-sink delivery loop on the main thread: it decides when a batch goes (batch size,
 * max_wait, backoff with Retry-After, pause, sync), has its {@link Batches} write it (here or in
 * a Worker), and alone writes what follows: the cursor moves past what the upstream took, refused
 * records go to the dead letters, a 413 halves the batch.
 */
import type { Logger } from "../log.ts";
import type { DeliveryConfig } from "../plugin.ts";
import { RetryableError, TooLargeError } from "../errors.ts";
import { type ComponentStatus, errorMessage } from "../status.ts";
import { backoffDelay, deadline, Snooze } from "../util/timing.ts";
import { type Clock, systemClock } from "../util/clock.ts";
import type { Outbox } from "../outbox/outbox.ts";
import { type Batches, type BatchReport, type Refused, SinkSetupError } from "./batch_writer.ts";

/** Options of {@link Delivery}. */
export interface DeliveryOptions {
  outbox: Outbox;
  /** Where batches are read and written: a {@link BatchWriter} here, or one in a Worker. */
  batches: Batches;
  config: DeliveryConfig;
  status: ComponentStatus;
  log: Logger;
  /** The time batches wait and backoffs sleep on (default: the system clock). */
  clock?: Clock;
}

/** See the module comment. */
export class Delivery {
  #running = false;
  #paused = false;
  #loop: Promise<void> | null = null;
  readonly #snooze: Snooze;
  #backingOff = false;
  #unsubscribe: (() => void) | null = null;
  #connected = false;
  #attempt = 0;
  #limit: number;
  #idleWaiters: (() => void)[] = [];
  #lastError: unknown = null;
  #writing: Promise<unknown> = Promise.resolve();
  readonly #clock: Clock;
  /** The sink could not be made from its config: nothing is tried until a reload replaces it. */
  #broken = false;

  constructor(readonly name: string, readonly options: DeliveryOptions) {
    this.#limit = options.config.batch_size;
    this.#clock = options.clock ?? systemClock;
    this.#snooze = new Snooze(this.#clock);
  }

  /** Starts delivering in the background. */
  start(): void {
    this.#running = true;
    // New records end an idle wait, never a backoff (that would hammer a failing upstream).
    this.#unsubscribe = this.options.outbox.onAppend(() => {
      if (!this.#backingOff) this.#snooze.wake();
    });
    this.#loop = this.#keepRunning();
  }

  /** The loop outlives an error outside a write (a cursor update on a full disk): it backs off. */
  async #keepRunning(): Promise<void> {
    const { backoff_min: min, backoff_max: max } = this.options.config;
    while (this.#running) {
      await this.#run().catch((e) => {
        this.#failed(e, 0);
        return this.#snooze.sleep(backoffDelay(this.#attempt++, { min, max }));
      });
    }
  }

  /** Stops after the write in flight; undelivered records stay in the outbox. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#unsubscribe?.();
    this.#snooze.wake();
    await this.#loop;
    this.#wakeIdle();
    await this.#lock(() => this.options.batches.close()).catch(() => {});
    this.#connected = false;
  }

  /** Pauses or resumes delivery (records keep accumulating in the outbox). */
  setPaused(paused: boolean): void {
    this.#paused = paused;
    this.options.status.info.paused = paused;
    this.#snooze.wake();
  }

  /**
   * Delivers now, ignoring max_wait and backoff, until the queue is empty or a write fails.
   * Returns how many records were sent and the error, if any.
   */
  async sync(options: { timeoutMs?: number } = {}): Promise<{ sent: number; error?: string }> {
    const before = this.options.status.processed;
    this.#attempt = 0;
    if (!this.#broken) this.#lastError = null;
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#snooze.wake();
    await deadline(idle, options.timeoutMs ?? 30_000, `sync of sink ${this.name}`).catch(() => {});
    const sent = this.options.status.processed - before;
    return this.#lastError ? { sent, error: errorMessage(this.#lastError) } : { sent };
  }

  /**
   * Before an interval's commit: a sink that works and reads the open commit sends what waits
   * now rather than after max_wait, so the commit may find every record delivered and write
   * nothing (src/outbox/commits.ts). Resolves once nothing waits, or after `timeoutMs`. A sink
   * whose max_wait is longer than the interval is not asked: its batches are made that long on
   * purpose (an object store's objects), and its records outlive commits anyway.
   */
  async flush(timeoutMs: number, options: { intervalMs: number }): Promise<void> {
    // Not a sink whose last write failed: it waits for its backoff, not for commits.
    const ready = this.#running && this.#connected && !this.#paused && !this.#broken &&
      !this.#backingOff && this.#lastError === null;
    if (!ready || !this.options.batches.readsUncommitted) return;
    if (this.options.config.max_wait > options.intervalMs) return;
    if (this.options.outbox.place(this.name).waiting === 0) return;
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#snooze.wake();
    await deadline(idle, timeoutMs, `flush of sink ${this.name}`).catch(() => {});
  }

  #wakeIdle(): void {
    this.#idleWaiters.splice(0).forEach((w) => w());
  }

  async #run(): Promise<void> {
    const { outbox, config } = this.options;
    // Connected at once: an unreachable upstream is down with its error before any record.
    await this.#connect().catch((e) => this.#failed(e, 0));
    while (this.#running) {
      if (this.#paused || this.#broken) {
        this.#wakeIdle();
        await this.#snooze.sleep(60_000);
        continue;
      }
      const place = outbox.place(this.name);
      if (place.waiting === 0) {
        // The next record's wait starts when it is seen (a skipped commit puts the cursor back
        // to a place it had before: its old time must not count).
        this.#oldest = { after: -1, at: 0 };
        outbox.skipOthers(this.name); // nothing of its own waits: the others' rows may go
        this.#wakeIdle();
        await this.#snooze.sleep(config.max_wait);
        continue;
      }
      if (place.waiting < this.#limit && this.#idleWaiters.length === 0) {
        // Let a batch fill up, but never hold the oldest record longer than max_wait.
        const age = this.#clock.now() - this.#firstSeen(place.after);
        if (age < config.max_wait) {
          await this.#snooze.sleep(config.max_wait - age);
          continue;
        }
      }
      if (!await this.#deliver(place) && !this.#broken) {
        this.#wakeIdle();
        const retryAfter = this.#lastError instanceof RetryableError
          ? this.#lastError.retryAfterMs
          : undefined;
        const wait = retryAfter ??
          backoffDelay(this.#attempt++, { min: config.backoff_min, max: config.backoff_max });
        this.options.status.info.next_retry_ms = Math.round(wait);
        this.#backingOff = true;
        await this.#snooze.sleep(wait);
        this.#backingOff = false;
      }
    }
  }

  #oldest = { after: -1, at: 0 };
  /** When the oldest waiting record was first seen (max_wait counts from there). */
  #firstSeen(after: number): number {
    if (this.#oldest.after !== after) this.#oldest = { after, at: this.#clock.now() };
    return this.#oldest.at;
  }

  /** Writes the next batch; true when the cursor moved (sent or dead-lettered) or none was read. */
  async #deliver({ after, largest }: { after: number; largest: number }): Promise<boolean> {
    const { outbox, config } = this.options;
    const limit = this.#limit;
    try {
      await this.#connect();
      const place = {
        after,
        limit,
        largest,
        maxBytes: config.batch_bytes,
        ahead: this.#running && !this.#paused,
      };
      const report = await this.#lock(() => this.options.batches.write(place));
      if (report.count === 0) {
        // Its records are not readable yet (held for their commit): wait as an idle sink does.
        outbox.skipOthers(this.name);
        this.#wakeIdle();
        await this.#snooze.sleep(config.max_wait);
        return true;
      }
      return this.#delivered(report);
    } catch (e) {
      return this.#failed(e, limit);
    }
  }

  /** The upstream has the batch but its refused records: those go aside, the cursor past all. */
  #delivered(report: BatchReport): boolean {
    const { outbox, config, status, log } = this.options;
    for (const [error, rows] of groupByError(report.refused)) {
      outbox.deadLetter(this.name, rows, error);
      log.warn("upstream refused records; kept in dead_letters", { records: rows.length, error });
    }
    outbox.ack(this.name, report.lastId);
    status.ok(report.count - report.refused.length);
    status.state = "up";
    this.#attempt = 0;
    this.#lastError = null;
    this.#limit = Math.min(config.batch_size, this.#limit * 2);
    delete status.info.next_retry_ms;
    return true;
  }

  /** A write of `size` records failed: halve a batch too large, else retry later (false). */
  #failed(e: unknown, size: number): boolean {
    const { status, log } = this.options;
    this.#lastError = e;
    status.fail(e);
    if (e instanceof SinkSetupError) {
      if (!this.#broken) {
        log.error("sink cannot be made from its config; fix it and reload", { error: e.message });
      }
      this.#broken = true;
      status.state = "down";
      return false;
    }
    if (e instanceof TooLargeError && size > 1) {
      this.#limit = Math.max(1, Math.floor(size / 2));
      status.count("split");
      log.warn("batch too large for the upstream, halving it", { size });
      return true;
    }
    status.count("retried");
    // Never delivered since the start: down (it may never have been reachable), else degraded.
    status.state = status.lastSuccess === null ? "down" : "degraded";
    log.warn("delivery failed, will retry", { error: errorMessage(e) });
    return false;
  }

  async #connect(): Promise<void> {
    if (this.#connected) return;
    await this.#lock(() => this.options.batches.connect());
    this.#connected = true;
  }

  /** One call to the batches at a time (the loop and a replay share them). */
  #lock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#writing.then(fn);
    this.#writing = run.catch(() => {});
    return run;
  }

  /**
   * Delivers this sink's dead letters again (after the cause was fixed): those the upstream
   * takes leave the table, the others stay with the new message.
   */
  async replayDeadLetters(): Promise<{ replayed: number; refused: number; error?: string }> {
    const letters = this.options.outbox.deadLetters;
    let replayed = 0;
    let refused = 0;
    try {
      await this.#connect();
      let after = 0;
      for (;;) {
        const rows = letters.take(this.name, this.options.config.batch_size, { after });
        if (rows.length === 0) break;
        after = rows[rows.length - 1].id;
        const bad = await this.#lock(() => this.options.batches.writeRecords(rows));
        const badIds = new Set(bad.map((b) => b.id));
        replayed += letters.remove(rows.filter((r) => !badIds.has(r.id)).map((r) => r.id));
        refused += bad.length;
      }
      this.options.status.count("dead_letters_replayed", replayed);
      return { replayed, refused };
    } catch (e) {
      return { replayed, refused, error: errorMessage(e) };
    }
  }
}

/** Refused records grouped by the upstream's message. */
function groupByError(rows: Refused[]): Map<string, Refused[]> {
  const out = new Map<string, Refused[]>();
  for (const r of rows) {
    if (!out.has(r.error)) out.set(r.error, []);
    out.get(r.error)!.push(r);
  }
  return out;
}
