import { RejectedError, RetryableError, TooLargeError } from "../errors.ts";
import { errorMessage } from "../status.ts";
import { answerExcerpt, isRedirect, readAnswer, redirectMessage } from "../util/http_answer.ts";

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
 * batch; 429, 5xx, redirects (never followed) and setup problems (401/403/404)
 * retry, keeping the data; other 4xx reject the payload (dead letters).
 */
export function classifyStatus(
  status: number,
  body: string,
  options: { upstream: string; retryAfter?: number },
): Error {
  const msg = `${options.upstream} answered ${status}: ${body.slice(0, 300).trim()}`;
  if (status === 413) return new TooLargeError(msg);
  if (status === 429 || status >= 500 || isRedirect(status)) {
    return new RetryableError(msg, options.retryAfter);
  }
  if (status === 401 || status === 403 || status === 404) {
    return new RetryableError(msg, options.retryAfter);
  }
  return new RejectedError(msg, status);
}

/**
 * A failed answer (not 2xx) as the outbox's error, its body read only up to an excerpt: a
 * redirect (fetched with `redirect: "manual"`) is retried and names its Location.
 */
export async function failedAnswer(res: Response, upstream: string): Promise<Error> {
  const retryAfter = retryAfterMs(res.headers.get("Retry-After"));
  if (isRedirect(res.status)) {
    await res.body?.cancel().catch(() => {});
    const location = res.headers.get("Location");
    return new RetryableError(
      redirectMessage(upstream, { status: res.status, location }),
      retryAfter,
    );
  }
  return classifyStatus(res.status, await answerExcerpt(res), { upstream, retryAfter });
}

/**
 * Reads a write's answer: a 2xx is drained within the answer bound (past it, or cut off, the
 * write is not taken as delivered: the batch is sent again); anything else is its error.
 */
export async function settleAnswer(res: Response, upstream: string): Promise<void> {
  if (!res.ok) throw await failedAnswer(res, upstream);
  try {
    await readAnswer(res, { where: upstream, keep: false });
  } catch (e) {
    throw new RetryableError(errorMessage(e));
  }
}
