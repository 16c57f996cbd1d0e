/**
 * TLS settings of a client (MQTT, Redis): a CA to trust (a private one on a site
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

/** Node-style TLS options (for mqtt.js and ioredis) from the settings, files read now. */
export function tlsOptions(
  s: TlsSettings,
): { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } {
  const read = (path?: string) => (path ? Deno.readTextFileSync(path) : undefined);
  return { ca: read(s.ca), cert: read(s.cert), key: read(s.key), rejectUnauthorized: !s.insecure };
}
