/**
 * TLS settings of a client (MQTT, Redis, the HTTP sinks): a CA to trust (a private one on a site
 * LAN), a client certificate when the server asks for one, and `insecure` to
 * skip verification, which has to be asked for by name.
 */
import { z } from "zod";

/** Config keys of a client's TLS. */
export const tlsFields = {
  /** CA certificate file (PEM) to trust besides the system's. */
  ca: z.string().optional(),
  /** Client certificate and key files (PEM), for servers that ask for one. */
  cert: z.string().optional(),
  key: z.string().optional(),
  /** Accept any server certificate (testing only): the connection is then not authenticated. */
  insecure: z.boolean().default(false),
};

/** TLS settings as parsed. */
export interface TlsSettings {
  ca?: string;
  cert?: string;
  key?: string;
  insecure: boolean;
}

/** Node-style TLS options (mqtt.js, ioredis, node:https agents), the files read now. */
export interface NodeTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
}

const read = (path?: string) => (path ? Deno.readTextFileSync(path) : undefined);

/** Node-style TLS options (for mqtt.js and ioredis) from the settings, files read now. */
export function tlsOptions(s: TlsSettings): NodeTlsOptions {
  return { ca: read(s.ca), cert: read(s.cert), key: read(s.key), rejectUnauthorized: !s.insecure };
}

/** True when the settings ask for anything beyond the system's trust store. */
export function hasTls(s: TlsSettings): boolean {
  return !!(s.ca || s.cert || s.key || s.insecure);
}

/**
 * A fetch client with the settings' CA and client certificate, or undefined when
 * there are none (fetch's default client then). Deno's fetch cannot skip
 * verification per client, so `insecure` is refused by {@link fetchTlsIssue}.
 */
export function fetchClient(s: TlsSettings): Deno.HttpClient | undefined {
  if (!s.ca && !s.cert) return undefined;
  return Deno.createHttpClient({
    caCerts: s.ca ? [read(s.ca)!] : undefined,
    cert: read(s.cert),
    key: read(s.key),
  });
}

/** Why TLS settings cannot apply to a fetch-based client, or null when they can. */
export function fetchTlsIssue(s: TlsSettings): string | null {
  if (s.insecure) {
    return "`insecure` is not available here (Deno's fetch always verifies): give the server's CA with `ca:`";
  }
  if (!!s.cert !== !!s.key) return "`cert` and `key` go together";
  return null;
}

/** A zod `superRefine` for the config of a fetch-based client: reports {@link fetchTlsIssue}. */
export function refineFetchTls(
  s: TlsSettings,
  ctx: { addIssue(i: z.core.$ZodRawIssue): void },
): void {
  const issue = fetchTlsIssue(s);
  if (issue) ctx.addIssue({ code: "custom", message: issue, input: s, path: ["insecure"] });
}

/** Whether a component's settings make it speak TLS: an https/mqtts/rediss/wss url, or `tls: true`. */
function speaksTls(c: Record<string, unknown>): boolean {
  return c.tls === true ||
    (typeof c.url === "string" && /^(https|mqtts|ssl|wss|rediss):/.test(c.url));
}

/**
 * What `check` says of TLS, per component (`sinks.influx` -> its settings): which CA it trusts
 * and which client certificate it shows, and a warning for each `insecure: true`.
 */
export function tlsReport(
  components: Record<string, unknown>,
): { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  for (const [at, value] of Object.entries(components)) {
    if (!value || typeof value !== "object") continue;
    const c = value as Record<string, unknown>;
    const set = typeof c.ca === "string" || typeof c.cert === "string" || c.insecure === true;
    if (!speaksTls(c) && !set) continue;
    if (!speaksTls(c)) {
      warnings.push(`${at}: TLS settings are given but it does not use TLS (url or tls: true)`);
      continue;
    }
    const trust = c.insecure === true
      ? "without verifying the server (insecure)"
      : typeof c.ca === "string"
      ? `trusting the system CAs and ${c.ca}`
      : "trusting the system CAs";
    const cert = typeof c.cert === "string"
      ? `client certificate ${c.cert} (key ${c.key})`
      : "no client certificate";
    lines.push(`${at}: TLS ${trust}, ${cert}`);
    if (c.insecure === true) {
      warnings.push(
        `${at}: insecure: true accepts any server certificate; the connection is not ` +
          `authenticated: give the server's CA with ca: instead`,
      );
    }
  }
  return { lines, warnings };
}
