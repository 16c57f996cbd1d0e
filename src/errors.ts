/** How an upstream failed: what the outbox does next depends on it (retry, set aside, split). */

/** A failure worth retrying later: network, 5xx, 429, timeouts. */
export class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
    this.name = "RetryableError";
  }
}

/** The upstream refused the payload itself (4xx): retrying cannot help; dead-letter it. */
export class RejectedError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "RejectedError";
  }
}

/** The batch is too large for the upstream (413): split it and try again. */
export class TooLargeError extends RejectedError {
  constructor(message: string) {
    super(message, 413);
    this.name = "TooLargeError";
  }
}
