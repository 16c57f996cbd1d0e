/**
 * A charger's daily history over HEX (register 0x1050 = today): what the text
 * protocol does not carry (battery voltage range, time in each charge stage),
 * which a GX shows as `/History/Daily/0/...`. Layout as Victron's velib documents
 * VE_REG_HISTORY_DAY00: 34 bytes, little-endian, 0xFF.. = not available.
 */

/** The register of today's history record (0x1051 is yesterday, up to 0x106E). */
export const HISTORY_TODAY = 0x1050;

/** Days of yield history the gateway reads and shows (today and 29 before it). */
export const HISTORY_DAYS = 30;

/** One day of a charger's history, in display units (null: not available). */
export interface DayRecord {
  /** The charger's day sequence number. */
  day: number | null;
  yield_kwh: number | null;
  max_power_w: number | null;
  vbat_max: number | null;
  vbat_min: number | null;
}

/** Fields a day record adds to a charger's samples, in display units. */
export interface DayHistory {
  /** Highest and lowest battery voltage today, V. */
  H_VBAT_MAX?: number;
  H_VBAT_MIN?: number;
  /** Minutes spent in bulk, absorption and float today. */
  H_BULK?: number;
  H_ABSORPTION?: number;
  H_FLOAT?: number;
}

const RECORD_BYTES = 34;

/**
 * Reads the little-endian fields of a day record, scaled to display units (2 decimals);
 * null where the device wrote all ones (not available). Null when the bytes are no record.
 */
function recordFields(bytes: Uint8Array) {
  if (bytes.length !== RECORD_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scaled = (v: number, none: number, scale: number) =>
    v === none ? null : Math.round(v * scale * 100) / 100;
  return {
    u16: (at: number, scale: number) => scaled(view.getUint16(at, true), 0xffff, scale),
    u32: (at: number, scale: number) => scaled(view.getUint32(at, true), 0xffffffff, scale),
  };
}

/** Decodes a day record's value bytes; null when it is not one. */
export function decodeDayHistory(bytes: Uint8Array): DayHistory | null {
  const r = recordFields(bytes);
  if (!r) return null;
  // 0 reserved, 1 yield u32, 5 consumed u32, 9 vbat max, 11 vbat min, 13 database,
  // 14 errors x4, 18 bulk, 20 absorption, 22 float, 24 pmax u32, 28 ibat max, 30 vpv max, 32 day.
  const all = {
    H_VBAT_MAX: r.u16(9, 0.01),
    H_VBAT_MIN: r.u16(11, 0.01),
    H_BULK: r.u16(18, 1),
    H_ABSORPTION: r.u16(20, 1),
    H_FLOAT: r.u16(22, 1),
  };
  const out: DayHistory = {};
  for (const [k, v] of Object.entries(all)) if (v !== null) out[k as keyof DayHistory] = v;
  return out;
}

/** Decodes a day record's yield, peak power and voltage range; null when it is not one. */
export function decodeDayRecord(bytes: Uint8Array): DayRecord | null {
  const r = recordFields(bytes);
  if (!r) return null;
  return {
    day: r.u16(32, 1),
    yield_kwh: r.u32(1, 0.01),
    max_power_w: r.u32(24, 1),
    vbat_max: r.u16(9, 0.01),
    vbat_min: r.u16(11, 0.01),
  };
}

/** A day record's value bytes (the simulator answers with it). */
export function encodeDayHistory(
  day: {
    vbatMax: number;
    vbatMin: number;
    bulk: number;
    absorption: number;
    float: number;
    /** Wh, W and the day sequence number, when known. */
    yieldWh?: number;
    maxPower?: number;
    day?: number;
  },
): Uint8Array {
  const bytes = new Uint8Array(RECORD_BYTES).fill(0xff);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, 0);
  if (day.yieldWh !== undefined) view.setUint32(1, Math.round(day.yieldWh / 10), true);
  if (day.maxPower !== undefined) view.setUint32(24, Math.round(day.maxPower), true);
  if (day.day !== undefined) view.setUint16(32, day.day, true);
  view.setUint16(9, Math.round(day.vbatMax * 100), true);
  view.setUint16(11, Math.round(day.vbatMin * 100), true);
  view.setUint16(18, day.bulk, true);
  view.setUint16(20, day.absorption, true);
  view.setUint16(22, day.float, true);
  return bytes;
}
