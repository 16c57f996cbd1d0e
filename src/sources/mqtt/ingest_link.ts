/** The source's side of an MQTT ingest Worker (see ingest_messages.ts). */
import { type ComponentStatus, errorMessage } from "../../status.ts";
import { WorkerBridge } from "../../workers/bridge.ts";
import {
  BatchUnpacker,
  type IngestEvent,
  type IngestSetup,
  type WireMessage,
} from "./ingest_messages.ts";

const WORKER_MODULE = new URL("./ingest_worker.ts", import.meta.url);

/** Options of {@link IngestLink}. */
export interface IngestLinkOptions {
  setup: IngestSetup;
  status: ComponentStatus;
  /** The messages of one batch, in order (payloads are views into the batch's buffer). */
  onMessages(messages: WireMessage[]): void;
  /** Connected and subscribed (up), or the connection closed (degraded). */
  onState(state: { connected: boolean; subscribed?: boolean }): void;
}

/** The first wait before a Worker that died while running is started again, and the longest. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 60_000;
/**
 * How long a start waits for the Worker's code to load before it stops waiting; the broker's
 * 3 s start once it is loaded. Loading the Worker, with the type check `deno test` does on first
 * use, took 10-30 s on a loaded 2-core machine: counted in the 3 s, a start that failed on its
 * CA file looked started, and one that would connect resolved before it subscribed.
 */
const LOAD_MS = 60_000;

/**
 * An MQTT connection in a Worker: messages in, acknowledgements and flow control out. A Worker
 * that dies once running is started again, backing off; what it had not handed over is
 * redelivered by the broker (its PUBACKs were never sent).
 */
export class IngestLink {
  /** The running Worker's bridge (the shared lifecycle: src/workers/bridge.ts). */
  #bridge: WorkerBridge | null = null;
  #unpacker = new BatchUnpacker();
  #acks: number[] = [];
  #paused = false;
  /** The first start went through: from here a Worker that dies is started again. */
  #running = false;
  #closing = false;
  #restart: ReturnType<typeof setTimeout> | undefined;
  #backoff = RESTART_MIN_MS;
  /** The number of the last message handed over: a new Worker numbers on from it. */
  #lastSeq: number;

  constructor(readonly options: IngestLinkOptions) {
    this.#lastSeq = options.setup.firstSeq ?? 0;
  }

  /**
   * Starts the Worker and connects; resolves at the first word on the connection (or 3 s after
   * the Worker began to connect), and
   * rejects when the Worker fails before it (a certificate file it cannot read, say), so the
   * source's start fails and is tried again, as it is with the connection on the main thread.
   */
  async start(): Promise<void> {
    await this.#spawn();
    this.#running = true;
  }

  #spawn(): Promise<void> {
    const { status } = this.options;
    // Numbered on from the last Worker: an ack that comes late never releases another message.
    const setup = { ...this.options.setup, firstSeq: this.#lastSeq };
    this.#unpacker = new BatchUnpacker(); // a new Worker numbers its topics afresh
    let over = false;
    // The Worker could not connect, or died: it is ended, and started again once it had run.
    const failed = (message: string) => {
      if (over || this.#closing) return void (over = true);
      over = true;
      bridge.terminate();
      if (this.#bridge === bridge) this.#bridge = null;
      const error = new Error(
        `MQTT connection ${setup.broker.client_id ?? ""} of source ${setup.name} stopped in its ` +
          `Worker: ${message}`,
      );
      status.fail(error);
      status.info.connected = false;
      this.options.onState({ connected: false });
      if (this.#running && !this.#closing) this.#restartLater();
      return error;
    };
    let loaded = () => {};
    const bridge = new WorkerBridge(WORKER_MODULE, {
      name: `source ${setup.name}`,
      onEvent: (e) => {
        if ((e as IngestEvent).type === "connecting") loaded();
        else this.#event(e as IngestEvent);
      },
      onExit: (e) => failed(e.message),
    });
    this.#bridge = bridge;
    // `init` connects; it answers once the connection said its first word, or throws (a
    // certificate file it cannot read, say): the source's start then fails and is tried again.
    const init = bridge.start(setup);
    if (this.#paused) bridge.post("pause");
    const started = init.then(
      () => {},
      (e) => {
        throw failed(errorMessage(e)) ?? e;
      },
    );
    started.catch(() => {});
    // A broker slow to answer does not hold the start longer than 3 s once the Worker's code is
    // loaded (it goes on connecting); loading has its own bound.
    const wait = Math.min(setup.broker.timeout, 3000);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, LOAD_MS);
      loaded = () => {
        clearTimeout(timer);
        timer = setTimeout(resolve, wait);
      };
    });
    return Promise.race([started, late]).finally(() => clearTimeout(timer));
  }

  #event(event: IngestEvent): void {
    const { status } = this.options;
    if (event.type === "messages") {
      const items: WireMessage[] = [];
      this.#unpacker.unpack(event.batch, (m) => items.push(m));
      const last = items.findLast((m) => m.seq !== undefined)?.seq;
      if (last !== undefined) this.#lastSeq = last;
      this.options.onMessages(items);
    } else if (event.type === "state") {
      status.info.connected = event.connected;
      if (event.error) status.lastError = { at: Date.now(), message: event.error };
      if (event.connected) this.#backoff = RESTART_MIN_MS;
      this.options.onState(event);
    } else if (event.type === "dropped") status.drop(event.reason, event.n);
  }

  #restartLater(): void {
    clearTimeout(this.#restart);
    this.#restart = setTimeout(() => {
      this.#restart = undefined;
      if (this.#closing) return;
      this.options.status.count("worker_restarts");
      // A start that fails again comes back through `failed`, which waits longer.
      this.#spawn().catch(() => {});
    }, this.#backoff);
    this.#backoff = Math.min(RESTART_MAX_MS, this.#backoff * 2);
  }

  /** Acknowledges message `seq` (its PUBACK goes out with the others of this turn). */
  ack(seq: number): void {
    this.#acks.push(seq);
    if (this.#acks.length === 1) {
      queueMicrotask(() => {
        const seqs = this.#acks;
        this.#acks = [];
        this.#call("ack", seqs);
      });
    }
  }

  /** Stops (or lets again) the Worker reading further packets. */
  pause(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.#call(paused ? "pause" : "resume");
  }

  /** Ends the connection and the Worker. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#restart);
    const bridge = this.#bridge;
    this.#bridge = null;
    await bridge?.close("close", 5000);
  }

  #call(op: "ack" | "pause" | "resume", args?: unknown): void {
    this.#bridge?.post(op, args);
  }
}
