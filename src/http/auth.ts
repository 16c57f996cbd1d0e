/**
 * Who may ask what: the read token (http.read_token) in front of every endpoint
 * but /health, whatever the method (HEAD answers what GET would, so it is no
 * side door), checked before any body is read or any device is asked.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/**
 * Whether `given` is `expected`, in time that depends on neither (both are hashed first, so
 * the comparison is of equal lengths and tells nothing of how much of a guess was right).
 */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * The read gate: a bearer token (the read or the mutating one), or `?token=` with the READ
 * token, which is what the status page carries on a phone's address bar. The mutating token
 * is never taken from an address: addresses end up in logs and browser history.
 */
export function requireReadToken(options: { read: string; write?: string }): MiddlewareHandler {
  const headerTokens = [options.read, options.write].filter((t): t is string => !!t);
  return async function readGate(c, next) {
    if (c.req.path === "/health") return await next();
    const header = c.req.header("Authorization");
    const bearer = header ? /^Bearer +(\S+) *$/i.exec(header)?.[1] : undefined;
    const query = header ? undefined : c.req.query("token");
    // Every candidate is compared, so the time taken does not say which one matched.
    let ok = false;
    if (bearer !== undefined) { for (const t of headerTokens) ok = tokenMatches(bearer, t) || ok; }
    if (query !== undefined) ok = tokenMatches(query, options.read);
    if (ok) return await next();
    return c.json({
      error: "this gateway needs a read token (http.read_token): send Authorization: Bearer " +
        "<token>, or add ?token=<read token> to a page's address",
    }, 401);
  };
}
