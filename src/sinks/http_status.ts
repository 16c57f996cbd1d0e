import { RejectedError, RetryableError, TooLargeError } from "../errors.ts";

/** Retry-After as ms (seconds or an HTTP date). */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s)) return s * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/**
 * Maps an upstream's HTTP answer to the outbox's classes: 413 splits the
 * batch; 429, 5xx and setup problems (401/403/404) retry, keeping the data;
 * other 4xx reject the payload (dead letters).
 */
export function classifyStatus(
  status: number,
  body: string,
  options: { upstream: string; retryAfter?: number },
): Error {
  const msg = `${options.upstream} answered ${status}: ${body.slice(0, 300).trim()}`;
  if (status === 413) return new TooLargeError(msg);
  if (status === 429 || status >= 500) return new RetryableError(msg, options.retryAfter);
  if (status === 401 || status === 403 || status === 404) {
    return new RetryableError(msg, options.retryAfter);
  }
  return new RejectedError(msg, status);
}
