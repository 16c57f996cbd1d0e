/**
 * The main thread's side of a sink that runs in a Worker (`sink_main.ts`):
 * it implements {@link Sink} by posting each call and waiting for its answer,
 * and copies the sink's figures and log lines into this thread's status and log.
 */
import { RejectedError, RetryableError, TooLargeError } from "../errors.ts";
import type { Envelope } from "../model.ts";
import type { Delivered, LogPlace, RawRecord, Sink, SinkContext } from "../plugin.ts";
import type { FailedCall, SinkAnswer, SinkCall, SinkFigures, SinkLog } from "./messages.ts";

/** The module a sink's Worker runs. */
const WORKER_MODULE = new URL("./sink_main.ts", import.meta.url);

/** What {@link WorkerSink} needs to build the sink over there. */
export interface WorkerSinkOptions {
  type: string;
  /** The parsed config (plain data: it crosses by structured clone). */
  config: unknown;
  /** The kinds of the configured sources, by name (for sinks that name measurements by kind). */
  kinds: () => Record<string, string>;
  /** The outbox file and the sink's share of it: the Worker reads its records itself. */
  log: SinkLog;
}

function rebuild(e: FailedCall): Error {
  switch (e.kind) {
    case "too_large":
      return new TooLargeError(e.message);
    case "rejected":
      return new RejectedError(e.message, e.status);
    case "retryable":
      return new RetryableError(e.message, e.retryAfterMs);
    default:
      return new Error(e.message);
  }
}

/** A sink whose work happens in a Worker of its own. */
export class WorkerSink implements Sink {
  #worker: Worker | null = null;
  #next = 0;
  readonly #waiting = new Map<
    number,
    { resolve(d: Delivered | undefined): void; reject(e: Error): void }
  >();

  constructor(readonly options: WorkerSinkOptions, readonly ctx: SinkContext) {}

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_MODULE, { type: "module" });
    worker.onmessage = (e: MessageEvent<SinkAnswer>) => this.#answer(e.data);
    worker.onerror = (e) => {
      // A Worker that died cannot answer: every call waiting fails (retryable), and the next
      // call starts a new one.
      e.preventDefault();
      this.#worker = null;
      worker.terminate();
      const error = new RetryableError(`sink worker failed: ${e.message}`);
      for (const w of this.#waiting.values()) w.reject(error);
      this.#waiting.clear();
    };
    const { type, config, log } = this.options;
    const init: SinkCall = {
      op: "init",
      type,
      log,
      name: this.ctx.name,
      gatewayId: this.ctx.gatewayId,
      config,
    };
    worker.postMessage(init);
    this.#worker = worker;
    return worker;
  }

  #answer(a: SinkAnswer): void {
    if (a.op === "log") {
      this.ctx.log[a.level](a.msg, a.fields);
      return;
    }
    this.#figures(a.figures);
    const waiting = this.#waiting.get(a.id);
    this.#waiting.delete(a.id);
    if (a.op === "done") waiting?.resolve(a.delivered);
    else waiting?.reject(rebuild(a.error));
  }

  /** The sink's own counters and info, as it keeps them over there. */
  #figures(f: SinkFigures): void {
    const status = this.ctx.status;
    for (const [k, v] of Object.entries(f.counters)) status.counters[k] = v;
    Object.assign(status.info, f.info);
  }

  /** Posts the call `make` builds with its number; resolves or throws with its answer. */
  #call(make: (id: number) => SinkCall): Promise<Delivered | undefined> {
    const worker = this.#start();
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage(make(id));
    });
  }

  async connect(): Promise<void> {
    await this.#call((id) => ({ op: "connect", id }));
  }

  async write(batch: Envelope[]): Promise<void> {
    await this.#call((id) => ({ op: "write", id, batch, kinds: this.options.kinds() }));
  }

  async writeRaw(batch: RawRecord[]): Promise<void> {
    await this.#call((id) => ({ op: "writeRaw", id, batch, kinds: this.options.kinds() }));
  }

  /** Has the Worker read the records after `after` from the outbox and write them. */
  async deliverFromLog(place: LogPlace): Promise<Delivered> {
    const d = await this.#call((id) => ({
      op: "deliver",
      id,
      ...place,
      kinds: this.options.kinds(),
    }));
    return d ?? { count: 0, lastId: place.after };
  }

  async close(): Promise<void> {
    if (!this.#worker) return;
    await this.#call((id) => ({ op: "close", id })).catch(() => {});
    this.#worker?.terminate();
    this.#worker = null;
  }
}
