import type { FieldValue } from "../../model.ts";
import type { TextBlock } from "./frame.ts";
import {
  AR_BITS,
  bitNames,
  BOOLEAN_LABELS,
  CS_NAMES,
  ERR_NAMES,
  MODE_NAMES,
  MPPT_NAMES,
  NUMERIC_LABELS,
  OR_BITS,
  productName,
} from "../../victron/labels.ts";

/** One device's decoded reading: fields in display units plus identity tags. */
export interface DeviceRecord {
  ts: number;
  fields: Record<string, FieldValue>;
  /** `product`, `pid`, `serial`, `firmware` when the device sent them. */
  tags: Record<string, string>;
}

const CODE_TABLES: Record<string, Record<number, string>> = {
  CS: CS_NAMES,
  ERR: ERR_NAMES,
  MPPT: MPPT_NAMES,
  MODE: MODE_NAMES,
};
const BITMASKS: Record<string, Record<number, string>> = { AR: AR_BITS, WARN: AR_BITS };
const NUMBER = /^-?\d+(\.\d+)?$/;
const STRING_LABELS = new Set(["SER#", "FW", "FWE", "BMV", "PID"]);

// Divisors instead of multipliers keep 12064 mV at exactly 12.064 V.
const DIVISORS: Record<string, number> = Object.fromEntries(
  Object.entries(NUMERIC_LABELS).map(([k, spec]) => [k, Math.round(1 / spec.scale)]),
);

function decodeValue(
  label: string,
  raw: string,
  fields: Record<string, FieldValue>,
): void {
  const divisor = DIVISORS[label];
  if (divisor !== undefined) {
    const n = Number(raw);
    fields[label] = Number.isFinite(n) ? (divisor === 1 ? n : n / divisor) : raw;
    return;
  }
  if (BOOLEAN_LABELS.has(label)) {
    fields[label] = raw === "ON" ? true : raw === "OFF" ? false : raw;
    return;
  }
  const codes = CODE_TABLES[label];
  if (codes) {
    const n = Number(raw);
    fields[label] = Number.isFinite(n) ? n : raw;
    fields[`${label}_text`] = codes[n] ?? `unknown ${raw}`;
    return;
  }
  const bits = BITMASKS[label] ?? (label === "OR" ? OR_BITS : undefined);
  if (bits) {
    const n = label === "OR" ? parseInt(raw, 16) : Number(raw);
    fields[label] = Number.isFinite(n) ? n : raw;
    if (Number.isFinite(n)) fields[`${label}_text`] = bitNames(n, bits);
    return;
  }
  fields[label] = STRING_LABELS.has(label) || !NUMBER.test(raw) ? raw : Number(raw);
}

/** Decodes merged label/value pairs of a device into a {@link DeviceRecord}. */
export function decodeRecord(raw: Map<string, string>, ts: number): DeviceRecord {
  const fields: Record<string, FieldValue> = {};
  const tags: Record<string, string> = {};
  for (const [label, value] of raw) decodeValue(label, value, fields);
  const pid = raw.get("PID");
  if (pid !== undefined) {
    const n = parseInt(pid, 16);
    tags.pid = pid;
    tags.product = Number.isFinite(n) ? productName(n) : `unknown ${pid}`;
  }
  const serial = raw.get("SER#");
  if (serial) tags.serial = serial;
  const fw = raw.get("FW") ?? raw.get("FWE");
  if (fw) tags.firmware = fw;
  return { ts, fields, tags };
}

/**
 * Merges consecutive blocks into one device record (BMVs split a record over
 * two blocks). A record is complete when a block starts with PID (every
 * device's first block does), when a label repeats, or when the line goes quiet.
 */
export class RecordAssembler {
  #current = new Map<string, string>();
  #ts = 0;
  /** Whether this device names itself (PID, or BMV on BMV-60x): then every record must. */
  #identified = false;

  constructor(
    readonly onRecord: (record: DeviceRecord) => void,
    readonly onOrphan: () => void = () => {},
  ) {}

  /** Adds a valid block received at `at`. */
  add(block: TextBlock, at: number): void {
    if (this.#current.size > 0 && block[0] === "PID") {
      this.flush();
    } else if (this.#current.size > 0) {
      for (let i = 0; i < block.length; i += 2) {
        if (this.#current.has(block[i])) {
          this.flush();
          break;
        }
      }
    }
    if (this.#current.size === 0) this.#ts = at;
    for (let i = 0; i + 1 < block.length; i += 2) this.#current.set(block[i], block[i + 1]);
  }

  /** Emits the pending record, if any. */
  flush(): void {
    if (this.#current.size === 0) return;
    const raw = this.#current;
    this.#current = new Map();
    if (raw.has("PID") || raw.has("BMV")) this.#identified = true;
    else if (this.#identified || [...raw.keys()].every((label) => /^H\d+$/.test(label))) {
      // The half that names the device was refused, or came before the port was read (a BMV's
      // H1-H18 block without its PID block): a record of no product would be filed under no device.
      this.onOrphan();
      return;
    }
    this.onRecord(decodeRecord(raw, this.#ts));
  }

  /** Drops the pending record (e.g. after the port was lost). */
  clear(): void {
    this.#current = new Map();
  }
}
