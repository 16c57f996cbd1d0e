/** What an MQTT payload is, decided by its content (never by its topic). */
import { type FieldValue, MAX_FIELDS } from "./model.ts";
import { MAX_FIELD_NAME, nameProblem } from "./names.ts";

/** Payload kinds: policies accept some and refuse others. */
export type PayloadKind = "number" | "text" | "json" | "image" | "binary";

/** A classified payload. */
export type Payload =
  | { kind: "number"; value: number }
  | { kind: "text"; value: string }
  | { kind: "json"; fields: Record<string, FieldValue> }
  | { kind: "image"; format: "jpeg" | "png" | "webp" }
  | { kind: "binary" }
  | { kind: "invalid"; reason: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });
const NUMBER = /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

function imageFormat(b: Uint8Array): "jpeg" | "png" | "webp" | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    return "png";
  }
  if (
    b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
    b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50
  ) return "webp";
  return null;
}

function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x09 || (c > 0x0d && c < 0x20)) return true;
  }
  return false;
}

/** Classifies a payload: number, text, JSON (object -> fields), image (magic bytes) or binary. */
export function classify(bytes: Uint8Array): Payload {
  const image = imageFormat(bytes);
  if (image) return { kind: "image", format: image };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: "binary" };
  }
  // Control characters other than whitespace mean binary data that happens to be valid UTF-8.
  if (hasControlCharacters(text)) return { kind: "binary" };
  if (NUMBER.test(text)) return { kind: "number", value: Number(text) };
  const t = text.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      return { kind: "invalid", reason: "invalid_json" };
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      return { kind: "invalid", reason: "json_not_an_object" };
    }
    const fields: Record<string, FieldValue> = {};
    const entries = Object.entries(parsed);
    if (entries.length > MAX_FIELDS) return { kind: "invalid", reason: "too_many_fields" };
    for (const [k, v] of entries) {
      if (nameProblem(k, MAX_FIELD_NAME) !== null) {
        return { kind: "invalid", reason: "bad_field_name" };
      }
      if (v === null || ["number", "string", "boolean"].includes(typeof v)) {
        fields[k] = v as FieldValue;
      }
    }
    return { kind: "json", fields };
  }
  return { kind: "text", value: text };
}
