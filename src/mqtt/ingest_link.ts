/** The source's side of an MQTT ingest Worker (see ingest_messages.ts). */
import type { ComponentStatus } from "../status.ts";
import {
  BatchUnpacker,
  type IngestCall,
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

/** An MQTT connection in a Worker: messages in, acknowledgements and flow control out. */
export class IngestLink {
  #worker: Worker | null = null;
  readonly #unpacker = new BatchUnpacker();
  #acks: number[] = [];
  #paused = false;
  #closed: (() => void) | null = null;

  constructor(readonly options: IngestLinkOptions) {}

  /** Starts the Worker and connects; resolves at the first word on the connection (or 3 s). */
  start(): Promise<void> {
    const { status } = this.options;
    const worker = new Worker(WORKER_MODULE, { type: "module" });
    this.#worker = worker;
    let first: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      first = resolve;
      setTimeout(resolve, Math.min(this.options.setup.broker.timeout, 3000));
    });
    worker.onmessage = (e: MessageEvent<IngestEvent>) => {
      const event = e.data;
      if (event.type === "messages") {
        const items: WireMessage[] = [];
        this.#unpacker.unpack(event.batch, (m) => items.push(m));
        this.options.onMessages(items);
      } else if (event.type === "state") {
        status.info.connected = event.connected;
        if (event.error) status.lastError = { at: Date.now(), message: event.error };
        this.options.onState(event);
        first();
      } else if (event.type === "closed") this.#closed?.();
    };
    worker.onerror = (e) => {
      e.preventDefault();
      status.fail(new Error(`the MQTT Worker stopped: ${e.message}`));
      first();
    };
    this.#call({ type: "connect", setup: this.options.setup });
    return started;
  }

  /** Acknowledges message `seq` (its PUBACK goes out with the others of this turn). */
  ack(seq: number): void {
    this.#acks.push(seq);
    if (this.#acks.length === 1) {
      queueMicrotask(() => {
        const seqs = this.#acks;
        this.#acks = [];
        this.#call({ type: "ack", seqs });
      });
    }
  }

  /** Stops (or lets again) the Worker reading further packets. */
  pause(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.#call({ type: paused ? "pause" : "resume" });
  }

  /** Ends the connection and the Worker. */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = null;
    const closed = new Promise<void>((resolve) => {
      this.#closed = resolve;
      setTimeout(resolve, 5000);
    });
    worker.postMessage({ type: "close" } satisfies IngestCall);
    await closed;
    worker.terminate();
  }

  #call(call: IngestCall): void {
    this.#worker?.postMessage(call);
  }
}
