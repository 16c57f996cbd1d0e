/**
 * A Worker's side of the bridge (see bridge.ts): it answers the main thread's calls with its
 * handlers (errors encoded, so the same class is thrown over there), posts its own events, and
 * sends its log lines to the main thread's logger (its level, format and journald settings).
 */
import type { Logger, LogLevel } from "../log.ts";
import { type BridgeCall, type BridgeMessage, encodeError } from "./wire.ts";

/** The Worker's global scope, as far as the bridge uses it (no `deno.worker` lib needed here). */
interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<BridgeCall>) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;

function post(message: BridgeMessage, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

/** What a Worker does for each call: its answer, or it throws. */
// deno-lint-ignore no-explicit-any
export type Handlers = Record<string, (args: any) => unknown>;

/**
 * Answers calls with `handlers`. `ordered`: one call at a time, in the order they came (a sink's
 * writes); else each at once (an ack must not wait behind a connect).
 */
export function serveBridge(handlers: Handlers, options: { ordered?: boolean } = {}): void {
  let chain: Promise<void> = Promise.resolve();
  scope.onmessage = (e) => {
    const call = e.data;
    const run = async () => {
      try {
        const handler = handlers[call.op];
        if (!handler) throw new Error(`the Worker has no call "${call.op}"`);
        const value = await handler(call.args);
        if (call.id !== undefined) post({ id: call.id, value });
      } catch (error) {
        if (call.id !== undefined) post({ id: call.id, error: encodeError(error) });
        else bridgeLog().warn(`call "${call.op}" failed in a Worker`, { error: String(error) });
      }
    };
    if (options.ordered) chain = chain.then(run);
    else void run();
  };
}

/** Posts an event of the Worker's own to its owner (`onEvent`). */
export function emit(event: unknown, transfer: Transferable[] = []): void {
  post({ event }, transfer);
}

/** A logger whose lines go to the main thread's. */
export function bridgeLog(): Logger {
  const line = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
    post({ log: { level, msg, fields } });
  const log: Logger = {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    child: () => log,
  };
  return log;
}
