/**
 * The main thread's side of a Worker of ours, for sinks and MQTT ingest alike: it starts the
 * Worker and waits for the answer to its `init` call (a set-up that throws over there rejects
 * here with its error: a configuration error, not a retry loop), makes numbered calls and waits
 * for their answers, passes the Worker's events and log lines on, and when the Worker dies fails
 * every call waiting and says so (`onExit`); the owner decides whether to start it again. A call
 * may be given a deadline on the Worker's silence: a Worker stuck in synchronous code (a loop that
 * never ends) can post nothing, so past it the Worker is ended as if it had died.
 */
import type { Logger } from "../log.ts";
import { deadline } from "../util/timing.ts";
import { type BridgeCall, type BridgeMessage, decodeError } from "./wire.ts";

/** What the owner of a Worker hears from it. */
export interface BridgeOptions {
  /** Names the Worker in errors ("sink influx"). */
  name: string;
  /** The Worker's own events (what it posts with `emit`). */
  onEvent?(event: unknown): void;
  /** Where the Worker's log lines go (its `bridgeLog()`). */
  log?: Logger;
  /** The Worker died once started (an uncaught error, or silent past a call's deadline); the calls
   * waiting have failed. */
  onExit?(error: Error): void;
}

/** Options of one call. */
export interface CallOptions {
  transfer?: Transferable[];
  /**
   * How long the Worker may stay silent during the call (no answer, event or log line), ms;
   * past it, it is ended as stuck and the call fails with a {@link WorkerStuckError}.
   */
  answerWithinMs?: number;
}

/** A Worker stayed silent past a call's deadline and was ended. */
export class WorkerStuckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkerStuckError";
  }
}

/** One Worker running `module`, talked to by calls and events (see the module comment). */
export class WorkerBridge {
  #worker: Worker | null = null;
  #next = 0;
  readonly #waiting = new Map<number, PromiseWithResolvers<unknown>>();
  /** When the Worker last posted anything (performance.now()). */
  #heard = 0;

  constructor(readonly module: URL, readonly options: BridgeOptions) {}

  /** Whether a Worker is running. */
  get running(): boolean {
    return this.#worker !== null;
  }

  /**
   * Starts a Worker (ending one still running) and calls its `init` with `args`; resolves with
   * its answer. When `init` throws or the Worker dies first, it is ended and this rejects.
   */
  async start(args: unknown, options: CallOptions = {}): Promise<unknown> {
    this.terminate();
    const worker = new Worker(this.module, { type: "module" });
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<BridgeMessage>) => this.#receive(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      this.#died(worker, new Error(`${this.options.name}: its Worker stopped: ${e.message}`));
    };
    try {
      return await this.call("init", args, options);
    } catch (e) {
      if (this.#worker === worker) this.terminate();
      throw e;
    }
  }

  /** Calls `op` in the Worker; resolves with its answer or throws what it threw. */
  call(op: string, args?: unknown, options: CallOptions = {}): Promise<unknown> {
    const worker = this.#worker;
    if (!worker) return Promise.reject(new Error(`${this.options.name}: no Worker running`));
    const id = ++this.#next;
    const waiting = Promise.withResolvers<unknown>();
    this.#waiting.set(id, waiting);
    worker.postMessage({ id, op, args } satisfies BridgeCall, options.transfer ?? []);
    if (options.answerWithinMs !== undefined) {
      this.#watch(worker, op, waiting.promise, options.answerWithinMs);
    }
    return waiting.promise;
  }

  /** Ends `worker` as stuck when it stays silent `ms` while `call` waits for its answer. */
  #watch(worker: Worker, op: string, call: Promise<unknown>, ms: number): void {
    const since = performance.now();
    let timer: ReturnType<typeof setTimeout>;
    const check = () => {
      const quiet = performance.now() - Math.max(since, this.#heard);
      if (quiet < ms) {
        timer = setTimeout(check, ms - quiet);
        return;
      }
      const s = Math.round(ms / 100) / 10;
      const what = `${this.options.name}: its Worker did not answer "${op}" within ${s} s`;
      this.#died(worker, new WorkerStuckError(`${what} (stuck?); it was ended`));
    };
    timer = setTimeout(check, ms);
    call.then(() => clearTimeout(timer), () => clearTimeout(timer));
  }

  /** Tells the Worker `op` without waiting for an answer. */
  post(op: string, args?: unknown): void {
    this.#worker?.postMessage({ op, args } satisfies BridgeCall);
  }

  /** Calls `op` (its goodbye: close connections) for at most `timeoutMs`, then ends the Worker. */
  async close(op?: string, timeoutMs = 5000): Promise<void> {
    if (!this.#worker) return;
    if (op) {
      await deadline(this.call(op), timeoutMs, `${this.options.name}: ${op}`).catch(() => {});
    }
    this.terminate();
  }

  /** Ends the Worker at once; calls waiting fail. */
  terminate(): void {
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = null;
    worker.terminate();
    this.#failWaiting(new Error(`${this.options.name}: its Worker was ended`));
  }

  #died(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    worker.terminate();
    this.#failWaiting(error);
    this.options.onExit?.(error);
  }

  #failWaiting(error: Error): void {
    for (const w of this.#waiting.values()) w.reject(error);
    this.#waiting.clear();
  }

  #receive(m: BridgeMessage): void {
    this.#heard = performance.now();
    if ("log" in m) this.options.log?.[m.log.level](m.log.msg, m.log.fields);
    else if ("event" in m) this.options.onEvent?.(m.event);
    else {
      const waiting = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      if ("error" in m) waiting?.reject(decodeError(m.error));
      else waiting?.resolve(m.value);
    }
  }
}
