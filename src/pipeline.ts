import type { Logger } from "./log.ts";
import type { Envelope, GatewayEvent, Sample, Window } from "./model.ts";
import { Thresholds } from "./rules/thresholds.ts";
import type { Outbox, Receipts } from "./outbox/outbox.ts";
import { errorMessage } from "./status.ts";
import type { Level, Store } from "./store/store.ts";
import { SeriesStamps } from "./stamps.ts";
import { type Clock, systemClock } from "./util/clock.ts";
import { LatestReadings } from "./readings.ts";
import type { GroupCommit } from "./util/group_commit.ts";

/** Pending windows moved to the outbox at a time (and committed, when more may follow). */
const BATCH = 1000;

/**
 * The path every sample takes: outbox first (the durable hand-over upstream),
 * then the local store. A store failure is counted; an outbox refusal rejects
 * the emit so the source knows the samples were not taken.
 */
export class Pipeline {
  /** Arrival stamps unique per node (sample identity). */
  readonly stamps: SeriesStamps;
  /** Threshold rules judged on every sample. */
  readonly thresholds: Thresholds;
  /** Each node's latest sample (what /metrics exposes). */
  readonly latest: LatestReadings;

  constructor(
    readonly store: Store,
    readonly outbox: Outbox,
    readonly log: Logger,
    readonly options: { thresholds?: Thresholds; clock?: Clock; commits?: GroupCommit } = {},
  ) {
    // Also names the source on a node's windows: more nodes than /metrics shows.
    this.latest = new LatestReadings(10_000);
    this.thresholds = options.thresholds ?? new Thresholds([]);
    this.stamps = new SeriesStamps(options.clock ?? systemClock);
  }

  /**
   * Hands samples over (with the source's receipts). Resolves once they are taken: in the
   * group that the next commit makes durable (at most `gateway.commit_interval` later) or,
   * with `wait` (a sender is told "stored": MQTT ack: commit, /ingest), once that commit is
   * made, which then comes at once. Without a group commit every hand-over is committed.
   */
  async emit(
    samples: Sample[],
    options: { receipts?: Receipts; wait?: boolean } = {},
  ): Promise<void> {
    await this.#take(samples, options);
    this.options.commits?.took(samples.length);
    if (options.wait) await this.options.commits?.committed();
  }

  async #take(samples: Sample[], options: { receipts?: Receipts; wait?: boolean }): Promise<void> {
    if (samples.length === 0) {
      if (options.receipts) this.outbox.append([], options);
      return;
    }
    this.outbox.append(samples.map((data): Envelope => ({ kind: "sample", data })), {
      receipts: options.receipts,
      waits: options.wait,
    });
    this.latest.record(samples);
    if (!this.thresholds.empty) {
      this.raise(this.thresholds.evaluate(samples, this.stamps.clock.now()));
    }
    try {
      await this.store.write(samples);
    } catch (e) {
      this.log.error("local store write failed", {
        error: errorMessage(e),
        samples: samples.length,
      });
    }
  }

  /** Hands events (anomalies, alerts, summaries) to the outbox at once; a failure is logged. */
  raise(events: GatewayEvent[]): void {
    if (events.length === 0) return;
    for (const e of events) this.log.info("event", { type: e.type, node: e.node, ...e.data });
    try {
      this.outbox.append(events.map((data): Envelope => ({ kind: "event", data })));
    } catch (e) {
      this.log.error("events not stored", { error: errorMessage(e), events: events.length });
    }
  }

  /**
   * Computes every closed window of every level, then moves pending windows into the outbox.
   * A call of the store that leaves more (a flood's minute: 1,000 windows a call) is committed
   * before the next, so one transaction stays bounded however many nodes there are.
   */
  async aggregate(levels: Level[], now: number = this.stamps.clock.now()): Promise<number> {
    let total = 0;
    for (const level of levels) {
      for (let more = true; more;) {
        const r = await this.store.aggregate(level, now);
        total += r.windows;
        more = r.more;
        if (more) await this.options.commits?.committed();
      }
    }
    await this.forwardWindows();
    return total;
  }

  #forwarding: Promise<unknown> = Promise.resolve();

  /**
   * Hands pending windows to the outbox; they leave the store's list only after the commit.
   * One run at a time (a second waits for the first): a run waits for commits between
   * batches, and two runs resumed by one commit would read the same batch, then ack it twice.
   */
  forwardWindows(): Promise<number> {
    const run = this.#forwarding.then(() => this.#forward());
    this.#forwarding = run.catch(() => {});
    return run;
  }

  async #forward(): Promise<number> {
    let moved = 0;
    for (;;) {
      const windows: Window[] = await this.store.pendingWindows(BATCH);
      if (windows.length === 0) return moved;
      this.outbox.append(windows.map((w): Envelope => {
        const source = w.source ?? this.latest.sourceOf(w.node);
        return { kind: "window", data: source ? { ...w, source } : w };
      }));
      await this.store.ackWindows(windows.length);
      moved += windows.length;
      // A full batch: more may wait (a flood's minute). This one is committed first.
      if (windows.length === BATCH) await this.options.commits?.committed();
    }
  }
}
