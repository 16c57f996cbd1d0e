/**
 * One rule for names that come from outside (node ids from topics, /ingest,
 * Redis keys, Data-Service devices; field names from payloads): bounded, no
 * control characters; and wherever a name becomes a file path or an object key
 * it is encoded so that it cannot contain `/`, be `.` or `..`, or leave its
 * directory.
 */
import { createHash } from "node:crypto";

/** Longest node id or device name taken from outside (characters). */
export const MAX_NODE_NAME = 256;
/** Longest field name taken from a payload (characters). */
export const MAX_FIELD_NAME = 128;

/** Why a name from outside cannot be used, or null when it can. */
export function nameProblem(name: string, max: number = MAX_NODE_NAME): string | null {
  if (name.length === 0) return "empty";
  if (name.length > max) return `longer than ${max} characters`;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return "control characters";
  }
  return null;
}

function escape(c: string): string {
  return "~" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0");
}

/**
 * A name as one path segment or object key part. `~` is the escape character
 * (`~2F` is `/`): `~`, `%`, `/`, `\` and control characters are escaped, and a
 * name that is only dots (`.`, `..`) has them escaped too, so the result never
 * leaves its directory. No `%` remains, so a client that URL-decodes keys
 * (S3 listings) cannot turn one into `..` either. Names without those
 * characters stay as they are (existing keys do not move); {@link fromSegment}
 * reverses it.
 */
export function pathSegment(name: string): string {
  if (name === "") return "~";
  // deno-lint-ignore no-control-regex
  const out = name.replace(/[~%/\\\u0000-\u001f\u007f]/g, escape);
  return /^\.+$/.test(out) ? out.replace(/\./g, "~2E") : out;
}

/** The name a {@link pathSegment} came from. */
export function fromSegment(segment: string): string {
  if (segment === "~") return "";
  return segment.replace(/~([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** pepeunit keys rows by UUID: a node id that is not one gets a stable name-based UUID (v5 layout). */
export function nodeUuid(node: string): string {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(node)) {
    return node.toLowerCase();
  }
  const h = createHash("sha1").update("edge-gateway:" + node).digest("hex");
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${
    h.slice(20, 32)
  }`;
}
