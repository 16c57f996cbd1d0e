/**
 * The main thread's side of a sink in a Worker: {@link Batches} over the bridge. The Worker is
 * started (and the sink made there) on the first call; a `create()` that throws there is a
 * {@link SinkSetupError}, not a failure to retry. A Worker that dies fails the call in the air
 * (retried as any failure) and the next call starts a new one.
 */
import type { Logger } from "../log.ts";
import type { LogRow } from "../outbox/cursors.ts";
import type { ComponentStatus } from "../status.ts";
import { errorMessage } from "../status.ts";
import { WorkerBridge } from "../workers/bridge.ts";
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

/** Options of {@link WorkerBatches}. */
export interface WorkerBatchesOptions {
  status: ComponentStatus;
  log: Logger;
  /** The host's views as of now (source kinds, stale devices, the time). */
  view(): HostView;
}

/** See the module comment. */
export class WorkerBatches implements Batches {
  readonly #bridge: WorkerBridge;
  #connected = false;

  constructor(readonly init: SinkWorkerInit, readonly options: WorkerBatchesOptions) {
    this.#bridge = new WorkerBridge(WORKER_MODULE, {
      name: `sink ${init.name}`,
      log: options.log,
      onEvent: (e) => this.#figures(e as SinkFigures),
      onExit: (error) =>
        options.log.warn("sink Worker died; a new one starts with the next batch", {
          error: error.message,
        }),
    });
  }

  /** The Worker running, with its sink made and connected. */
  async #ready(): Promise<void> {
    if (!this.#bridge.running) {
      this.#connected = false;
      await this.#bridge.start(this.init).catch((e) => {
        throw new SinkSetupError(`sinks.${this.init.name}: ${errorMessage(e)}`);
      });
    }
    if (!this.#connected) {
      await this.#bridge.call("connect", this.options.view());
      this.#connected = true;
    }
  }

  connect(): Promise<void> {
    return this.#ready();
  }

  async write(place: BatchPlace): Promise<BatchReport> {
    await this.#ready();
    return await this.#bridge.call("write", { place, view: this.options.view() }) as BatchReport;
  }

  async writeRecords(records: LogRow[]): Promise<Refused[]> {
    await this.#ready();
    const call = { records, view: this.options.view() };
    return await this.#bridge.call("writeRecords", call) as Refused[];
  }

  async close(): Promise<void> {
    this.#connected = false;
    await this.#bridge.close("close");
  }

  /** The sink's own counters and info, as it keeps them over there. */
  #figures(e: SinkFigures): void {
    const status = this.options.status;
    for (const [k, v] of Object.entries(e.figures.counters)) status.counters[k] = v;
    Object.assign(status.info, e.figures.info);
  }
}
