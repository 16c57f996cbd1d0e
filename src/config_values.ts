import { z } from "zod";

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const DURATION_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/;
const SIZE_BYTES: Record<string, number> = {
  B: 1,
  KB: 1e3,
  KiB: 1024,
  MB: 1e6,
  MiB: 1024 ** 2,
  GB: 1e9,
  GiB: 1024 ** 3,
};

/** Parses `500ms`, `5s`, `1m`, `2h`, `1d` to milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`expected a duration like 500ms, 5s, 1m, 2h or 1d, got "${text}"`);
  return Math.round(Number(m[1]) * DURATION_MS[m[2]]);
}

/** A duration in config: a number of milliseconds or a string like `5s`; parsed to ms. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === "number") return v;
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

/** A size in config: a number of bytes or a string like `256MiB`; parsed to bytes. */
export const size = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === "number") return v;
  const m = SIZE.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: "custom", message: `expected a size like 512KiB or 256MiB, got "${v}"` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * SIZE_BYTES[m[2] ?? "B"]);
});

/** RFC 6750's b64token: what may follow `Authorization: Bearer ` (hono's bearerAuth checks the same). */
export const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

/**
 * A bearer token in config, checked at load (or every request carrying it would be refused as
 * malformed); "" stands for none (`${GATEWAY_TOKEN:-}` with the variable unset).
 */
export const bearerToken = z.string().refine((v) => v === "" || BEARER_TOKEN.test(v), {
  message: "not a valid bearer token (RFC 6750): use only letters, digits and - . _ ~ + / " +
    "(= only at the end), e.g. one made by `openssl rand -hex 32`",
});

/** Config key names used for sources and sinks: they appear in metrics and topics. */
export const componentName = z.string().regex(
  /^[A-Za-z0-9_-]+$/,
  "use letters, digits, _ and - only",
);
