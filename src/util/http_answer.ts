/**
 * How much of an upstream's HTTP answer the gateway reads, and what it does with a redirect.
 * Every body is read with a byte limit, so a broken or hostile server (a 300 MiB error page, a
 * body that never ends) costs at most that much memory; a 3xx is never followed (a write sent on
 * to a login page is not delivered, and its credentials must not travel to another origin).
 */

/** The most of any answer read (a poll's JSON, a query's rows, a bucket listing, a write's reply). */
export const ANSWER_LIMIT = 16 * 1024 * 1024;

/** How much of an error answer is read and kept for the message (status, log, dead letter). */
export const EXCERPT_BYTES = 1024;

/** An answer's body went past the limit: the exchange did not complete, so it is not a success. */
export class AnswerTooLargeError extends Error {
  constructor(where: string, limit: number) {
    super(
      `${where} sent an answer larger than ${mib(limit)}: it was cut there and not taken as ` +
        `a success (check that the url points at the service itself, not a proxy or a page)`,
    );
    this.name = "AnswerTooLargeError";
  }
}

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MiB` : `${bytes} bytes`;
}

/**
 * Reads a body whole up to `limit` bytes (default {@link ANSWER_LIMIT}); past it the rest is
 * cancelled and {@link AnswerTooLargeError} thrown. `keep: false` counts without holding the bytes
 * (a write's reply nobody reads: it is drained so the connection can be used again).
 */
export async function readAnswer(
  res: Response,
  options: { where: string; limit?: number; keep?: boolean },
): Promise<Uint8Array> {
  const limit = options.limit ?? ANSWER_LIMIT;
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw new AnswerTooLargeError(options.where, limit);
      }
      if (options.keep !== false) parts.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** {@link readAnswer} as text. */
export async function answerText(
  res: Response,
  options: { where: string; limit?: number },
): Promise<string> {
  return new TextDecoder().decode(await readAnswer(res, options));
}

/**
 * The start of an (error) answer as text, at most {@link EXCERPT_BYTES}; the rest is cancelled,
 * never read. A body that fails midway gives what arrived.
 */
export async function answerExcerpt(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < EXCERPT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
  } catch {
    // What arrived is the excerpt.
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(Math.min(size, EXCERPT_BYTES));
  let at = 0;
  for (const p of parts) {
    if (at >= bytes.length) break;
    const n = Math.min(p.length, bytes.length - at);
    bytes.set(p.subarray(0, n), at);
    at += n;
  }
  return new TextDecoder().decode(bytes);
}

/** True for a redirect status (3xx): the gateway never follows one. */
export function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

/** The message of a refused redirect: where it pointed and what to do. */
export function redirectMessage(
  where: string,
  options: { status: number; location?: string | null },
): string {
  // A Location is the upstream's text: at most 300 characters of it reach status and logs.
  const to = options.location ? ` to ${options.location.slice(0, 300)}` : " (no Location)";
  return `${where} answered ${options.status}, a redirect${to}: redirects are not followed ` +
    `(nothing is sent on, nor its credentials); set the url to the service itself`;
}
