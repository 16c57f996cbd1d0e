import type { Logger } from "../log.ts";
import type { Envelope } from "../model.ts";
import type { DeliveryConfig, Sink } from "../plugin.ts";
import { RejectedError, RetryableError, TooLargeError } from "../errors.ts";
import { type ComponentStatus, errorMessage } from "../status.ts";
import { fieldFilter } from "../envelope_fields.ts";
import { backoffDelay, deadline, Snooze } from "../util/timing.ts";
import { type Clock, systemClock } from "../util/clock.ts";
import type { Outbox, OutboxRow } from "./outbox.ts";
import { type Ahead, ReadAhead } from "./read_ahead.ts";

/** Options of {@link Delivery}. */
export interface DeliveryOptions {
  outbox: Outbox;
  sink: Sink;
  config: DeliveryConfig;
  status: ComponentStatus;
  log: Logger;
  /** The time batches wait and backoffs sleep on (default: the system clock). */
  clock?: Clock;
}

/**
 * The per-sink delivery loop: reads batches after the sink's cursor, writes them, and moves the
 * cursor only when the sink acknowledged. Retryable failures back off (with jitter, honouring
 * Retry-After); rejected batches go to the dead-letter table; a 413 halves the batch.
 */
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
  #filter: (e: Envelope) => Envelope;
  #idleWaiters: (() => void)[] = [];
  #lastError: unknown = null;
  #writing: Promise<unknown> = Promise.resolve();
  readonly #clock: Clock;
  readonly #ahead: ReadAhead;

  constructor(readonly name: string, readonly options: DeliveryOptions) {
    this.#limit = options.config.batch_size;
    this.#clock = options.clock ?? systemClock;
    this.#snooze = new Snooze(this.#clock);
    this.#filter = fieldFilter(options.config.fields);
    const limit = () => this.#limit;
    this.#ahead = new ReadAhead({ ...options, name, filter: this.#filter, limit });
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
    for (const w of this.#idleWaiters.splice(0)) w();
    if (this.#connected) {
      await this.options.sink.close?.().catch(() => {});
      this.#connected = false;
    }
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
    this.#lastError = null;
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#snooze.wake();
    await deadline(idle, options.timeoutMs ?? 30_000, `sync of sink ${this.name}`).catch(() => {});
    const sent = this.options.status.processed - before;
    return this.#lastError ? { sent, error: errorMessage(this.#lastError) } : { sent };
  }

  async #run(): Promise<void> {
    const { outbox, config, status, sink } = this.options;
    const fromLog = !!sink.deliverFromLog;
    // Connected at once: an unreachable upstream is down with its error before any record.
    await this.#connect().catch((e) => this.#failed(e, 0));
    while (this.#running) {
      if (this.#paused) {
        this.#idleWaiters.splice(0).forEach((w) => w());
        await this.#snooze.sleep(60_000);
        continue;
      }
      // A batch read ahead while the last one was in the air is taken as it is.
      const ahead = this.#ahead.take();
      let rows = fromLog
        ? []
        : ahead?.rows ?? outbox.read(this.name, this.#limit, { maxBytes: config.batch_bytes });
      const place = fromLog ? outbox.place(this.name) : null;
      const waiting = place ? place.waiting : rows.length;
      if (waiting === 0) {
        outbox.skipOthers(this.name); // nothing of its own waits: the others' rows may go
        this.#idleWaiters.splice(0).forEach((w) => w());
        await this.#snooze.sleep(config.max_wait);
        continue;
      }
      if (waiting < this.#limit && this.#idleWaiters.length === 0) {
        // Let a batch fill up, but never hold the oldest record longer than max_wait.
        const age = this.#clock.now() - this.#firstSeen(place ? place.after : rows[0].id);
        if (age < config.max_wait) {
          await this.#snooze.sleep(config.max_wait - age);
          if (!this.#running) break;
          if (!fromLog) {
            rows = outbox.read(this.name, this.#limit, { maxBytes: config.batch_bytes });
            if (rows.length === 0) continue;
          }
        }
      }
      const ok = fromLog
        ? await this.#deliverFromLog()
        : await this.#deliver(rows, ahead?.rows === rows ? ahead : undefined);
      if (!ok) {
        this.#idleWaiters.splice(0).forEach((w) => w());
        const retryAfter = this.#lastError instanceof RetryableError
          ? this.#lastError.retryAfterMs
          : undefined;
        const wait = retryAfter ??
          backoffDelay(this.#attempt++, { min: config.backoff_min, max: config.backoff_max });
        status.info.next_retry_ms = Math.round(wait);
        this.#backingOff = true;
        await this.#snooze.sleep(wait);
        this.#backingOff = false;
      }
    }
  }

  #oldest = { id: -1, at: 0 };
  /** When the oldest waiting record was first read (max_wait counts from there). */
  #firstSeen(id: number): number {
    if (this.#oldest.id !== id) this.#oldest = { id, at: this.#clock.now() };
    return this.#oldest.at;
  }

  /** Writes one batch; true when the cursor moved (sent or dead-lettered). */
  async #deliver(rows: OutboxRow[], ahead?: Ahead): Promise<boolean> {
    const { outbox, log, sink } = this.options;
    try {
      await this.#connect();
      const refused = await this.#lock(() =>
        sink.prepare && sink.send ? this.#sendPrepared(rows, ahead) : this.#writeSplitting(rows)
      );
      for (const [error, bad] of groupByError(refused)) {
        outbox.deadLetter(this.name, bad, error);
        log.warn("upstream refused records; kept in dead_letters", {
          records: bad.length,
          error,
        });
      }
      return this.#delivered(rows.length - refused.length, rows[rows.length - 1].id);
    } catch (e) {
      return this.#failed(e, rows.length);
    }
  }

  /**
   * Has the sink read and write the next batch itself (in a Worker). A refused batch is read
   * here instead, so that the refused records are found and set aside as always.
   */
  async #deliverFromLog(): Promise<boolean> {
    const { outbox, config, sink } = this.options;
    const place = outbox.place(this.name);
    try {
      await this.#connect();
      const done = await this.#lock(() =>
        deadline(
          sink.deliverFromLog!({ ...place, limit: this.#limit, maxBytes: config.batch_bytes }),
          config.timeout,
          `write to sink ${this.name}`,
        )
      );
      if (done.count === 0) {
        // Nothing of this sink's after its place: let the outbox move it past the others' rows,
        // and wait as an idle sink does (the waiting count said otherwise: never spin on it).
        outbox.skipOthers(this.name);
        await this.#snooze.sleep(config.max_wait);
        return true;
      }
      return this.#delivered(done.count, done.lastId);
    } catch (e) {
      if (e instanceof RejectedError && !(e instanceof TooLargeError)) {
        const rows = outbox.read(this.name, this.#limit, { maxBytes: config.batch_bytes });
        return rows.length > 0 ? await this.#deliver(rows) : true;
      }
      return this.#failed(e, this.#limit);
    }
  }

  /** The upstream has `count` records up to `lastId`: the cursor moves past them. */
  #delivered(count: number, lastId: number): boolean {
    const { outbox, config, status } = this.options;
    outbox.ack(this.name, lastId);
    status.ok(count);
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
    const { sink, config } = this.options;
    if (this.#connected) return;
    if (sink.connect) {
      await deadline(sink.connect(), config.timeout, `connect of sink ${this.name}`);
    }
    this.#connected = true;
  }

  /** One write to the sink at a time (the loop and a replay share it). */
  #lock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#writing.then(fn);
    this.#writing = run.catch(() => {});
    return run;
  }

  /** Sends a batch the sink prepared (see {@link ReadAhead}); a refused one is split. */
  async #sendPrepared(
    rows: OutboxRow[],
    ahead?: Ahead,
  ): Promise<(OutboxRow & { error: string })[]> {
    try {
      await this.#ahead.send(rows, ahead, this.#running && !this.#paused);
      return [];
    } catch (e) {
      if (!(e instanceof RejectedError) || e instanceof TooLargeError) throw e;
      return await this.#writeSplitting(rows);
    }
  }

  /**
   * Writes rows; when the upstream refuses the batch (4xx), halves it until the refused records
   * are found, so only they are set aside and the rest is delivered (a record written twice
   * overwrites itself). Throws retryable errors.
   */
  async #writeSplitting(rows: OutboxRow[]): Promise<(OutboxRow & { error: string })[]> {
    const { sink, config } = this.options;
    try {
      // A sink that decodes elsewhere takes the records as stored (and applies `fields` itself).
      const raw = sink.writeRaw && rows.every((r) => r.raw)
        ? sink.writeRaw(rows.map((r) => r.raw!))
        : null;
      const written = raw ?? sink.write(rows.map((r) => this.#filter(r.envelope)));
      await deadline(written, config.timeout, `write to sink ${this.name}`);
      return [];
    } catch (e) {
      if (!(e instanceof RejectedError) || e instanceof TooLargeError) throw e;
      if (rows.length === 1) {
        return [{ id: rows[0].id, envelope: rows[0].envelope, error: errorMessage(e) }];
      }
      this.options.status.count("rejected_batches_split");
      const mid = rows.length >> 1;
      const left = await this.#writeSplitting(rows.slice(0, mid));
      return left.concat(await this.#writeSplitting(rows.slice(mid)));
    }
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
        const bad = await this.#lock(() => this.#writeSplitting(rows));
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
function groupByError(rows: (OutboxRow & { error: string })[]): Map<string, OutboxRow[]> {
  const out = new Map<string, OutboxRow[]>();
  for (const r of rows) {
    if (!out.has(r.error)) out.set(r.error, []);
    out.get(r.error)!.push({ id: r.id, envelope: r.envelope });
  }
  return out;
}
