/**
 * The main thread's side of a Worker of ours, for sinks and MQTT ingest alike: it starts the
 * Worker and waits for the answer to its `init` call (a set-up that throws over there rejects
 * here with its error: a configuration error, not a retry loop), makes numbered calls and waits
 * for their answers, passes the Worker's events and log lines on, and when the Worker dies fails
 * every call waiting and says so (`onExit`); the owner decides whether to start it again.
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
  /** The Worker died once started (an uncaught error); the calls waiting have failed. */
  onExit?(error: Error): void;
}

/** One Worker running `module`, talked to by calls and events (see the module comment). */
export class WorkerBridge {
  #worker: Worker | null = null;
  #next = 0;
  readonly #waiting = new Map<number, PromiseWithResolvers<unknown>>();

  constructor(readonly module: URL, readonly options: BridgeOptions) {}

  /** Whether a Worker is running. */
  get running(): boolean {
    return this.#worker !== null;
  }

  /**
   * Starts a Worker (ending one still running) and calls its `init` with `args`; resolves with
   * its answer. When `init` throws or the Worker dies first, it is ended and this rejects.
   */
  async start(args: unknown): Promise<unknown> {
    this.terminate();
    const worker = new Worker(this.module, { type: "module" });
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<BridgeMessage>) => this.#receive(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      this.#died(worker, new Error(`${this.options.name}: its Worker stopped: ${e.message}`));
    };
    try {
      return await this.call("init", args);
    } catch (e) {
      if (this.#worker === worker) this.terminate();
      throw e;
    }
  }

  /** Calls `op` in the Worker; resolves with its answer or throws what it threw. */
  call(op: string, args?: unknown, transfer: Transferable[] = []): Promise<unknown> {
    const worker = this.#worker;
    if (!worker) return Promise.reject(new Error(`${this.options.name}: no Worker running`));
    const id = ++this.#next;
    const waiting = Promise.withResolvers<unknown>();
    this.#waiting.set(id, waiting);
    worker.postMessage({ id, op, args } satisfies BridgeCall, transfer);
    return waiting.promise;
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
