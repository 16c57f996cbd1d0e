/** VE.Direct HEX protocol: `:` + command nibble + payload bytes as hex + checksum + LF. */

/** HEX command and response codes. */
export const HexCommand = {
  EnterBoot: 0x0,
  Ping: 0x1,
  AppVersion: 0x3,
  ProductId: 0x4,
  Restart: 0x6,
  Get: 0x7,
  Set: 0x8,
  Async: 0xa,
} as const;

const RESPONSE_NAMES: Record<number, string> = {
  0x1: "done",
  0x3: "unknown",
  0x4: "error",
  0x5: "ping",
  0x7: "get",
  0x8: "set",
  0xa: "async",
};

/** Flags of get/set/async responses. */
export const HexFlags = { UnknownId: 0x01, NotSupported: 0x02, ParameterError: 0x04 } as const;

/** A decoded HEX message. */
export interface HexMessage {
  command: number;
  /** Readable response name (`get`, `async`, `ping`, ...). */
  name: string;
  /** Payload bytes (without command and checksum). */
  payload: Uint8Array;
  /** Register id for get/set/async. */
  register?: number;
  /** Flags byte for get/set/async. */
  flags?: number;
  /** Value as little-endian unsigned integer for get/set/async with a 1/2/4-byte value. */
  value?: number;
}

function hexNibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function littleEndian(bytes: Uint8Array): number {
  let v = 0;
  for (let i = bytes.length - 1; i >= 0; i--) v = v * 256 + bytes[i];
  return v;
}

/**
 * Decodes the text of a HEX message (without the leading `:` and the LF).
 * Returns an error string when the text is not hex or its checksum is not 0x55.
 */
export function decodeHex(text: string): HexMessage | { error: string } {
  if (text.length < 3 || text.length % 2 === 0) {
    return { error: `bad length ${text.length + 1} in ":${text.slice(0, 40)}"` };
  }
  const command = hexNibble(text.charCodeAt(0));
  if (command < 0) return { error: `bad command nibble in ":${text.slice(0, 40)}"` };
  const bytes = new Uint8Array((text.length - 1) / 2);
  let sum = command;
  for (let i = 0; i < bytes.length; i++) {
    const hi = hexNibble(text.charCodeAt(1 + i * 2));
    const lo = hexNibble(text.charCodeAt(2 + i * 2));
    if (hi < 0 || lo < 0) return { error: `non-hex character in ":${text.slice(0, 40)}"` };
    bytes[i] = hi * 16 + lo;
    sum += bytes[i];
  }
  if ((sum & 0xff) !== 0x55) return { error: `checksum mismatch in ":${text.slice(0, 40)}"` };
  const payload = bytes.subarray(0, bytes.length - 1);
  const msg: HexMessage = { command, name: RESPONSE_NAMES[command] ?? "unknown", payload };
  const withRegister = command === HexCommand.Get || command === HexCommand.Set ||
    command === HexCommand.Async;
  if (withRegister && payload.length >= 3) {
    msg.register = payload[0] | (payload[1] << 8);
    msg.flags = payload[2];
    const value = payload.subarray(3);
    if (value.length === 1 || value.length === 2 || value.length === 4) {
      msg.value = littleEndian(value);
    }
  }
  return msg;
}

function toHex(n: number, digits: number): string {
  return n.toString(16).toUpperCase().padStart(digits, "0");
}

/** Encodes a HEX message with its checksum: `:` + command + payload + checksum + LF. */
export function encodeHex(command: number, payload: Uint8Array = new Uint8Array()): string {
  let sum = command;
  let body = "";
  for (const b of payload) {
    sum += b;
    body += toHex(b, 2);
  }
  return `:${toHex(command, 1)}${body}${toHex((0x55 - sum) & 0xff, 2)}\n`;
}

function registerPayload(register: number, flags: number, value?: number, size = 0): Uint8Array {
  const out = new Uint8Array(3 + size);
  out[0] = register & 0xff;
  out[1] = (register >> 8) & 0xff;
  out[2] = flags;
  for (let i = 0; i < size; i++) out[3 + i] = Math.floor((value ?? 0) / 256 ** i) & 0xff;
  return out;
}

/** The ping request `:154`. */
export function pingRequest(): string {
  return encodeHex(HexCommand.Ping);
}

/** A get request for a register, e.g. 0x1000 -> `:70010003E`. */
export function getRequest(register: number): string {
  return encodeHex(HexCommand.Get, registerPayload(register, 0));
}

/** A set request writing `value` as a little-endian integer of `size` bytes. */
export function setRequest(register: number, value: number, options: { size: 1 | 2 | 4 }): string {
  return encodeHex(HexCommand.Set, registerPayload(register, 0, value, options.size));
}

/** A get/set/async response for a register, as a device sends it (used by the simulator). */
export function registerResponse(
  command: number,
  register: number,
  options: { value?: number; size?: 0 | 1 | 2 | 4; flags?: number; bytes?: Uint8Array },
): string {
  if (options.bytes) {
    const head = registerPayload(register, options.flags ?? 0);
    const out = new Uint8Array(head.length + options.bytes.length);
    out.set(head);
    out.set(options.bytes, head.length);
    return encodeHex(command, out);
  }
  const size = options.size ?? 2;
  return encodeHex(command, registerPayload(register, options.flags ?? 0, options.value, size));
}
