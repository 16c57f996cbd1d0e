/**
 * One secret model. The config says what is secret (passwords, tokens, keys,
 * values of auth-like headers, the password in a URL's userinfo); every value
 * found there is then masked wherever text leaves the gateway: `check`, every
 * log line, /status, the page, /metrics, and error messages of clients that
 * echo a URL. Masking by value, not only by key name, also catches a secret
 * that turns up inside an error message.
 */

/** Keys whose value is a secret. */
const SECRET_KEY = /(^|_)(token|password|secret|secret_key|access_key|api_?key|key_?id)$/i;
/** HTTP headers whose value is a secret. */
const SECRET_HEADER =
  /^(authorization|proxy-authorization|cookie|x-api-key|api-key|x-auth-token|x-access-token)$/i;
/** A URL with userinfo: `scheme://user:password@host`. */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^/@\s]+)@/gi;
const MASK = "***";

/** Secrets shorter than this are not masked inside other text (they would mask ordinary words). */
const MIN_SECRET = 4;

let known: string[] = [];

/** True when a key (a config key, a log field, a header under `headers`) names a secret. */
export function isSecretKey(key: string, parent?: string): boolean {
  return SECRET_KEY.test(key) || (parent === "headers" && SECRET_HEADER.test(key));
}

/** Every secret value of a config tree (also the passwords in URLs). */
export function secretsOf(tree: unknown, parent?: string): string[] {
  const out: string[] = [];
  if (typeof tree === "string") {
    for (const m of tree.matchAll(USERINFO)) out.push(decodeURIComponentSafe(m[3]), m[3]);
  } else if (Array.isArray(tree)) {
    for (const v of tree) out.push(...secretsOf(v, parent));
  } else if (tree && typeof tree === "object") {
    for (const [k, v] of Object.entries(tree)) {
      if (typeof v === "string" && v !== "" && isSecretKey(k, parent)) {
        out.push(v);
        // "Bearer abc": the token alone may turn up too.
        const word = /^\S+\s+(\S+)$/.exec(v)?.[1];
        if (word) out.push(word);
      } else out.push(...secretsOf(v, k));
    }
  }
  return out;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A copy of a config with secret values replaced by `***` (for `check`). */
export function maskConfig(tree: unknown, parent?: string): unknown {
  if (typeof tree === "string") return tree.replace(USERINFO, `$1$2:${MASK}@`);
  if (Array.isArray(tree)) return tree.map((v) => maskConfig(v, parent));
  if (tree && typeof tree === "object") {
    return Object.fromEntries(
      Object.entries(tree).map(([k, v]) => [
        k,
        isSecretKey(k, parent) && typeof v === "string" && v !== "" ? MASK : maskConfig(v, k),
      ]),
    );
  }
  return tree;
}

/** Makes these the secrets {@link redact} masks (the config's, on start and on reload). */
export function useSecrets(config: unknown): void {
  known = [...new Set(secretsOf(config))]
    .filter((s) => s.length >= MIN_SECRET)
    .sort((a, b) => b.length - a.length); // the longest first: a secret may contain another
}

/** Text with every known secret, and any URL password, masked. */
export function redact(text: string): string {
  let out = text.replace(USERINFO, `$1$2:${MASK}@`);
  for (const s of known) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}
