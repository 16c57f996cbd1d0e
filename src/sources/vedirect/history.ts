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

/** Decodes a day record's value bytes; null when it is not one. */
export function decodeDayHistory(bytes: Uint8Array): DayHistory | null {
  if (bytes.length !== RECORD_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number, scale: number) => {
    const v = view.getUint16(at, true);
    return v === 0xffff ? undefined : Math.round(v * scale * 100) / 100;
  };
  // 0 reserved, 1 yield u32, 5 consumed u32, 9 vbat max, 11 vbat min, 13 database,
  // 14 errors x4, 18 bulk, 20 absorption, 22 float, 24 pmax u32, 28 ibat max, 30 vpv max, 32 day.
  const out: DayHistory = {
    H_VBAT_MAX: u16(9, 0.01),
    H_VBAT_MIN: u16(11, 0.01),
    H_BULK: u16(18, 1),
    H_ABSORPTION: u16(20, 1),
    H_FLOAT: u16(22, 1),
  };
  for (const k of Object.keys(out) as (keyof DayHistory)[]) {
    if (out[k] === undefined) delete out[k];
  }
  return out;
}

/** Decodes a day record's yield, peak power and voltage range; null when it is not one. */
export function decodeDayRecord(bytes: Uint8Array): DayRecord | null {
  if (bytes.length !== RECORD_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number, scale: number) => {
    const v = view.getUint32(at, true);
    return v === 0xffffffff ? null : Math.round(v * scale * 100) / 100;
  };
  const u16 = (at: number, scale: number) => {
    const v = view.getUint16(at, true);
    return v === 0xffff ? null : Math.round(v * scale * 100) / 100;
  };
  return {
    day: u16(32, 1),
    yield_kwh: u32(1, 0.01),
    max_power_w: u32(24, 1),
    vbat_max: u16(9, 0.01),
    vbat_min: u16(11, 0.01),
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
