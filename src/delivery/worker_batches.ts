/**
 * The main thread's side of a sink in a Worker: {@link Batches} over the bridge. The Worker is
 * started (and the sink made there) on the first call; a `create()` that throws there is a
 * {@link SinkSetupError}, not a failure to retry. A Worker that dies fails the call in the air
 * (retried as any failure) and the next call starts a new one. So does a Worker silent for the
 * sink's `timeout` plus a margin during a call (stuck in synchronous code: an encoder's endless
 * loop): it is ended, counted in `worker_restarts`, and the error names it.
 */
import type { Logger } from "../log.ts";
import type { LogRow } from "../outbox/cursors.ts";
import type { ComponentStatus } from "../status.ts";
import { errorMessage } from "../status.ts";
import { WorkerBridge, WorkerStuckError } from "../workers/bridge.ts";
import type { DeliveryConfig } from "../plugin.ts";
import {
  type Batches,
  type BatchPlace,
  type BatchReport,
  type Refused,
  SinkSetupError,
} from "./batch_writer.ts";
import type { HostView, SinkFigures, SinkWorkerInit } from "./worker_messages.ts";

/** The module a sink's Worker runs. */
const WORKER_MODULE = new URL("./sink_worker.ts", import.meta.url);

/**
 * What a Worker may take beyond the sink's `timeout` to show a sign of life during a call: its
 * reads from the outbox (busy_timeout 5 s) and the encoding of a batch.
 */
export const ANSWER_MARGIN_MS = 10_000;

/** What a new Worker may take more to answer `init`: loading its modules (a slow SD card). */
const BOOT_MS = 60_000;

/** Options of {@link WorkerBatches}. */
export interface WorkerBatchesOptions {
  status: ComponentStatus;
  log: Logger;
  /** The host's views as of now (source kinds, stale devices, the time). */
  view(): HostView;
  /** Overrides {@link ANSWER_MARGIN_MS} (tests). */
  answerMarginMs?: number;
}

/** See the module comment. */
export class WorkerBatches implements Batches {
  /** A Worker reads the file on its own connection: committed records only. */
  readonly readsUncommitted = false;
  readonly #bridge: WorkerBridge;
  #connected = false;
  /** The sink's counters as the Workers before this one left them (a new one counts from 0). */
  #before: Record<string, number> = {};
  /** The running Worker's counters, as of its last figures. */
  #last: Record<string, number> = {};
  /** The deadline of each call on the Worker's silence. */
  readonly #within: { answerWithinMs: number };

  constructor(readonly init: SinkWorkerInit, readonly options: WorkerBatchesOptions) {
    const { timeout } = init.config as DeliveryConfig;
    this.#within = { answerWithinMs: timeout + (options.answerMarginMs ?? ANSWER_MARGIN_MS) };
    this.#bridge = new WorkerBridge(WORKER_MODULE, {
      name: `sink ${init.name}`,
      log: options.log,
      onEvent: (e) => this.#figures(e as SinkFigures),
      onExit: (error) => {
        options.status.count("worker_restarts");
        options.log.warn("sink Worker ended; a new one starts with the next batch", {
          error: error.message,
        });
      },
    });
  }

  /** The Worker running, with its sink made and connected. */
  async #ready(): Promise<void> {
    if (!this.#bridge.running) {
      this.#connected = false;
      for (const [k, v] of Object.entries(this.#last)) this.#before[k] = (this.#before[k] ?? 0) + v;
      this.#last = {};
      const boot = { answerWithinMs: this.#within.answerWithinMs + BOOT_MS };
      await this.#bridge.start(this.init, boot).catch((e) => {
        // Stuck while making the sink is no config error: it is tried again.
        if (e instanceof WorkerStuckError) throw e;
        throw new SinkSetupError(`sinks.${this.init.name}: ${errorMessage(e)}`);
      });
    }
    if (!this.#connected) {
      await this.#bridge.call("connect", this.options.view(), this.#within);
      this.#connected = true;
    }
  }

  connect(): Promise<void> {
    return this.#ready();
  }

  async write(place: BatchPlace): Promise<BatchReport> {
    await this.#ready();
    const call = { place, view: this.options.view() };
    return await this.#bridge.call("write", call, this.#within) as BatchReport;
  }

  async writeRecords(records: LogRow[]): Promise<Refused[]> {
    await this.#ready();
    const call = { records, view: this.options.view() };
    return await this.#bridge.call("writeRecords", call, this.#within) as Refused[];
  }

  async close(): Promise<void> {
    this.#connected = false;
    await this.#bridge.close("close");
  }

  /** The sink's own counters and info, as it keeps them over there. */
  #figures(e: SinkFigures | { alive: true }): void {
    if (!("figures" in e)) return; // a sign of life alone (the bridge noted it)
    const status = this.options.status;
    this.#last = e.figures.counters;
    for (const [k, v] of Object.entries(this.#last)) {
      status.counters[k] = (this.#before[k] ?? 0) + v;
    }
    Object.assign(status.info, e.figures.info);
  }
}
