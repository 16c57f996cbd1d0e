/**
 * The messages an MQTT source holds on their way to the pipeline (bounded by `max_pending`), and
 * how /status shows them: `pending: {messages, bytes, max_bytes}` in the source's info, read when
 * the status is (a queue near `max_bytes` means the pipeline or the outbox is behind, and reading
 * pauses there).
 */
import type { Envelope, Sample } from "../../model.ts";
import type { ComponentStatus } from "../../status.ts";
import type { BatchEmitter } from "../emitter.ts";

/** A message on its way to the pipeline. */
export interface Pending {
  sample?: Sample;
  envelopes?: Envelope[];
  /** The packet id and digest committed with the sample (ack: commit): spots redeliveries. */
  receipt?: [string, string];
  /** Memory it holds, estimated (for the pending bound). */
  bytes: number;
  ack: () => void;
}

/** Shows the queue of `emitter` as `pending` in `status.info`, as of each read. */
export function showPending(status: ComponentStatus, emitter: BatchEmitter<Pending>): void {
  Object.defineProperty(status.info, "pending", {
    enumerable: true,
    configurable: true,
    get: () => ({
      messages: emitter.queued,
      bytes: emitter.bytes,
      max_bytes: emitter.options.maxBytes,
    }),
  });
}
