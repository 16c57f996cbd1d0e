/**
 * What crosses between a Worker and the main thread through the bridge: numbered calls, their
 * answers, the Worker's own events and log lines, and errors encoded so that the other side
 * throws the class that was thrown (a sink's RetryableError stays a RetryableError).
 */
import { RejectedError, RetryableError, TooLargeError } from "../errors.ts";
import type { LogLevel } from "../log.ts";
import { errorMessage } from "../status.ts";

/** A call to the Worker: numbered when it wants an answer. */
export interface BridgeCall {
  id?: number;
  op: string;
  args?: unknown;
}

/** What the Worker sends: an answer to a call, an event of its own, or a log line. */
export type BridgeMessage =
  | { id: number; value?: unknown }
  | { id: number; error: WireError }
  | { event: unknown }
  | { log: { level: LogLevel; msg: string; fields?: Record<string, unknown> } };

/** An error as it crosses: its class, message and the figures the class carries. */
export interface WireError {
  kind: "retryable" | "rejected" | "too_large" | "other";
  message: string;
  retryAfterMs?: number;
  status?: number;
}

/** Encodes an error thrown on one side. */
export function encodeError(e: unknown): WireError {
  const message = errorMessage(e);
  if (e instanceof TooLargeError) return { kind: "too_large", message };
  if (e instanceof RejectedError) return { kind: "rejected", message, status: e.status };
  if (e instanceof RetryableError) {
    return { kind: "retryable", message, retryAfterMs: e.retryAfterMs };
  }
  return { kind: "other", message };
}

/** The error to throw on the other side: the same class, message and figures. */
export function decodeError(e: WireError): Error {
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
