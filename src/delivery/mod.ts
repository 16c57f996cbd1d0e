/**
 * Delivery: one loop per sink on the main thread ({@link Delivery}: when, cursor, dead letters)
 * and one batch writer ({@link BatchWriter}: read, prepare/send, split, report) that runs here or
 * in the sink's own Worker.
 */
import type { DeliveryConfig, Sink } from "../plugin.ts";
import type { Outbox } from "../outbox/outbox.ts";
import type { ComponentStatus } from "../status.ts";
import { type Batches, BatchWriter } from "./batch_writer.ts";
import { createSink, type SinkSetup, type SinkSurroundings } from "./sink_context.ts";
import { WorkerBatches } from "./worker_batches.ts";
import type { HostView } from "./worker_messages.ts";

export { Delivery, type DeliveryOptions } from "./delivery.ts";
export { type Batches, type BatchReport, BatchWriter, SinkSetupError } from "./batch_writer.ts";
export { createSink, sinkContext, type SinkSetup, type SinkSurroundings } from "./sink_context.ts";
export { WorkerBatches } from "./worker_batches.ts";
export type { HostView } from "./worker_messages.ts";

/** Batches of `sink` written on this thread, read from `outbox` (what the host does, and tests). */
export function localBatches(
  sink: Sink,
  options: { name: string; outbox: Outbox; config: DeliveryConfig; status: ComponentStatus },
): BatchWriter {
  const { name, outbox, config, status } = options;
  return new BatchWriter({
    name,
    sink,
    read: (after, limit, o) => outbox.readRows(name, limit, { maxBytes: o.maxBytes, after }),
    fields: config.fields,
    timeout: config.timeout,
    status,
    readsUncommitted: true,
  });
}

/** Options of {@link sinkBatches}. */
export interface SinkBatchesOptions {
  outbox: Outbox;
  around: SinkSurroundings;
  /** In a Worker of its own (its plugin asks, gateway.delivery_workers allows). */
  worker: boolean;
  /** The host's views now, handed to a sink in a Worker with each call. */
  view(): HostView;
}

/** The batches of the sink `setup` configures: here, or in its Worker. */
export function sinkBatches(setup: SinkSetup, options: SinkBatchesOptions): Batches {
  const { outbox, around } = options;
  const config = setup.config as DeliveryConfig;
  if (options.worker) {
    const log = { path: outbox.options.path, kinds: config.forward, nodes: config.nodes };
    return new WorkerBatches({ ...setup, log }, { ...around, view: options.view });
  }
  const sink = createSink(setup, around);
  return localBatches(sink, { name: setup.name, outbox, config, status: around.status });
}
