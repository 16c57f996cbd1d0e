/**
 * A sink's Worker (gateway.delivery_workers): the sink is made here as on the main thread
 * (createSink), and its batches are read, decoded, encoded and sent by the same
 * {@link BatchWriter}, on this Worker's own connection to the WAL outbox. What it did goes back
 * as a report; the cursor and the dead letters stay with the main thread.
 */
import { DatabaseSync } from "node:sqlite";
import { LogReader, type LogRow } from "../outbox/cursors.ts";
import type { DeliveryConfig } from "../plugin.ts";
import { ComponentStatus } from "../status.ts";
import type { Clock } from "../util/clock.ts";
import { delay } from "../util/timing.ts";
import { bridgeLog, emit, serveBridge } from "../workers/serve.ts";
import { BatchWriter } from "./batch_writer.ts";
import { createSink } from "./sink_context.ts";
import type { HostView, SinkFigures, SinkWorkerInit, WriteCall } from "./worker_messages.ts";

let writer: BatchWriter | null = null;
let status: ComponentStatus | null = null;
let db: DatabaseSync | null = null;
let view: HostView & { at: number } = {
  kinds: {},
  stale: [],
  now: Date.now(),
  at: performance.now(),
};

/** The gateway's time, as of the last call and moved on since by the monotonic clock. */
const clock: Clock = {
  now: () => view.now + (performance.now() - view.at),
  monotonic: () => performance.now(),
  sleep: delay,
};

function seen(v: HostView): void {
  view = { ...v, at: performance.now() };
}

/** Runs `fn`, then posts the sink's figures (before the answer: the main thread copies them). */
async function reporting<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    const figures = { counters: { ...status?.counters }, info: { ...status?.info } };
    emit({ figures } satisfies SinkFigures);
  }
}

serveBridge({
  init(setup: SinkWorkerInit) {
    status = new ComponentStatus(setup.name, setup.type);
    const sink = createSink(setup, {
      log: bridgeLog(),
      status,
      clock,
      kindOf: (source) => view.kinds[source],
      staleDevices: () => view.stale,
    });
    db = new DatabaseSync(setup.log.path);
    db.exec("PRAGMA busy_timeout = 5000");
    const reader = new LogReader(db, setup.log);
    const config = setup.config as DeliveryConfig;
    writer = new BatchWriter({
      name: setup.name,
      sink,
      read: (after, limit, o) => reader.read(after, limit, o),
      fields: config.fields ?? [],
      timeout: config.timeout,
      status,
      // Each step tells the main thread the Worker is alive: its deadline is on silence.
      step: () => emit({ alive: true }),
    });
  },
  connect: (v: HostView) => reporting(() => (seen(v), writer!.connect())),
  write: (call: WriteCall) => reporting(() => (seen(call.view), writer!.write(call.place))),
  writeRecords: (call: { records: LogRow[]; view: HostView }) =>
    reporting(() => (seen(call.view), writer!.writeRecords(call.records))),
  async close() {
    await writer?.close();
    db?.close();
    db = null;
  },
}, { ordered: true });
