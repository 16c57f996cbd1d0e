/**
 * A sink in a Worker: it decodes the records, encodes and compresses them
 * and talks to the upstream, off the thread that takes data in. Everything
 * that decides (batching, retries, the cursor, dead letters) stays with the
 * Delivery on the main thread; see `messages.ts` for the contract.
 */
/// <reference lib="deno.worker" />
import { fieldFilter } from "../envelope_fields.ts";
import { RejectedError, RetryableError, TooLargeError } from "../errors.ts";
import type { Logger, LogLevel } from "../log.ts";
import type { Envelope } from "../model.ts";
import type { Delivered, DeliveryConfig, Sink } from "../plugin.ts";
import { ComponentStatus, errorMessage } from "../status.ts";
import { systemClock } from "../util/clock.ts";
import { sinkPlugin } from "../sinks/registry.ts";
import { DatabaseSync } from "node:sqlite";
import { LogReader } from "../outbox/cursors.ts";
import type { FailedCall, SinkAnswer, SinkCall, SinkFigures } from "./messages.ts";

function send(answer: SinkAnswer): void {
  self.postMessage(answer);
}

/** Log lines go to the main thread's logger (its level, format and journald settings). */
function forwardingLog(): Logger {
  const line = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
    send({ op: "log", level, msg, fields });
  const log: Logger = {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    child: () => log,
  };
  return log;
}

function failure(e: unknown): FailedCall {
  const message = errorMessage(e);
  if (e instanceof TooLargeError) return { kind: "too_large", message };
  if (e instanceof RejectedError) return { kind: "rejected", message, status: e.status };
  if (e instanceof RetryableError) {
    return { kind: "retryable", message, retryAfterMs: e.retryAfterMs };
  }
  return { kind: "other", message };
}

let sink: Sink | null = null;
let status: ComponentStatus | null = null;
let kinds: Record<string, string> = {};
let filter: (e: Envelope) => Envelope = (e) => e;
let chain: Promise<void> = Promise.resolve();
/** The sink's share of the outbox, read on this Worker's own connection. */
let reader: LogReader | null = null;

/** Records as stored, decoded and with the sink's `fields` applied. */
function decode(records: { kind: string; payload: string }[]): Envelope[] {
  return records.map((r) => filter({ kind: r.kind, data: JSON.parse(r.payload) } as Envelope));
}

function figures(): SinkFigures {
  return { counters: { ...status?.counters }, info: { ...status?.info } };
}

async function handle(call: SinkCall): Promise<void> {
  if (call.op === "init") {
    const plugin = sinkPlugin(call.type)!;
    status = new ComponentStatus(call.name, call.type);
    filter = fieldFilter((call.config as DeliveryConfig).fields ?? []);
    // The config was parsed on the main thread; it arrives as plain data (structured clone).
    sink = plugin.create(call.config as never, {
      name: call.name,
      gatewayId: call.gatewayId,
      log: forwardingLog(),
      status,
      clock: systemClock,
      kindOf: (source) => kinds[source],
    });
    if (call.log) {
      const db = new DatabaseSync(call.log.path);
      db.exec("PRAGMA busy_timeout = 5000");
      reader = new LogReader(db, call.log);
    }
    return;
  }
  let delivered: Delivered | undefined;
  try {
    switch (call.op) {
      case "connect":
        await sink!.connect?.();
        break;
      case "write":
        kinds = call.kinds;
        await sink!.write(call.batch.map(filter));
        break;
      case "writeRaw":
        kinds = call.kinds;
        await sink!.write(decode(call.batch));
        break;
      case "deliver": {
        kinds = call.kinds;
        const rows = reader!.read(call.after, call.limit, call);
        if (rows.length > 0) await sink!.write(decode(rows));
        delivered = { count: rows.length, lastId: rows.at(-1)?.id ?? call.after };
        break;
      }
      case "close":
        await sink!.close?.();
        reader?.db.close();
        reader = null;
        break;
    }
    send({ op: "done", id: call.id, figures: figures(), delivered });
  } catch (e) {
    send({ op: "failed", id: call.id, error: failure(e), figures: figures() });
  }
}

// One call at a time, in order, as the Delivery makes them.
self.onmessage = (e: MessageEvent<SinkCall>) => {
  chain = chain.then(() => handle(e.data));
};
