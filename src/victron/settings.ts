/**
 * The device settings an operator may read and change over VE.Direct HEX, per
 * product family, from Victron's published HEX register lists ("BlueSolar HEX
 * protocol MPPT", "BMV-7xx HEX protocol"). Only these registers are ever written:
 * a register not listed here is refused before anything reaches the serial line.
 */

/** The product families with settings. */
export type SettingsFamily = "charger" | "monitor";

/** One setting: its register, how its raw integer maps to the value shown, and its bounds. */
export interface SettingSpec {
  /** The name in the API (`absorption_voltage`). */
  name: string;
  label: string;
  register: number;
  /** Bytes of the little-endian value. */
  size: 1 | 2;
  /** Value = raw x scale. */
  scale: number;
  unit?: string;
  /** Bounds of the value (in the unit), inclusive; `volts` bounds are for a 12 V system. */
  min?: number;
  max?: number;
  /** Raw values and their words, for a setting that is a choice. */
  choices?: Record<number, string>;
  /** Bounds that scale with the battery's nominal voltage (12/24/36/48 V). */
  perNominalVolt?: boolean;
  /** Bounds that the product's rated current caps (max charge current). */
  ratedCurrent?: boolean;
}

/** The MPPT solar chargers' settings. */
export const CHARGER_SETTINGS: SettingSpec[] = [
  {
    name: "device_mode",
    label: "Charger",
    register: 0x0200,
    size: 1,
    scale: 1,
    choices: { 1: "on", 4: "off" },
  },
  {
    name: "load_output",
    label: "Load output",
    register: 0xedab,
    size: 1,
    scale: 1,
    choices: {
      0: "off",
      1: "automatic (BatteryLife)",
      2: "alternative 1 (off < 11.1 V, on > 13.1 V)",
      3: "alternative 2 (off < 11.8 V, on > 14.0 V)",
      4: "on",
      5: "user defined 1",
      6: "user defined 2",
      7: "automatic energy selector",
    },
  },
  {
    name: "battery_type",
    label: "Battery type",
    register: 0xedf1,
    size: 1,
    scale: 1,
    choices: {
      1: "Gel Victron long life (14.1 V)",
      2: "Gel Victron deep discharge (14.3 V)",
      3: "Gel Victron deep discharge (14.4 V)",
      4: "AGM spiral cell (14.7 V)",
      5: "PzS tubular plate 1 (14.9 V)",
      6: "PzS tubular plate 2 (15.1 V)",
      7: "PzS tubular plate 3 (15.3 V)",
      8: "LiFePO4 (14.2 V)",
      255: "user defined",
    },
  },
  {
    name: "absorption_voltage",
    label: "Absorption voltage",
    register: 0xedf7,
    size: 2,
    scale: 0.01,
    unit: "V",
    min: 10,
    max: 16.5,
    perNominalVolt: true,
  },
  {
    name: "float_voltage",
    label: "Float voltage",
    register: 0xedf6,
    size: 2,
    scale: 0.01,
    unit: "V",
    min: 10,
    max: 16.5,
    perNominalVolt: true,
  },
  {
    name: "max_charge_current",
    label: "Maximum charge current",
    register: 0xedf0,
    size: 2,
    scale: 0.1,
    unit: "A",
    min: 0,
    max: 100,
    ratedCurrent: true,
  },
];

/** The battery monitors' (BMV, SmartShunt) settings. */
export const MONITOR_SETTINGS: SettingSpec[] = [
  {
    name: "battery_capacity",
    label: "Battery capacity",
    register: 0x1000,
    size: 2,
    scale: 1,
    unit: "Ah",
    min: 1,
    max: 9999,
  },
  {
    name: "charged_voltage",
    label: "Charged voltage",
    register: 0x1001,
    size: 2,
    scale: 0.1,
    unit: "V",
    min: 0,
    max: 95,
  },
  {
    name: "tail_current",
    label: "Tail current",
    register: 0x1002,
    size: 2,
    scale: 0.1,
    unit: "%",
    min: 0.5,
    max: 10,
  },
  {
    name: "charged_detection_time",
    label: "Charged detection time",
    register: 0x1003,
    size: 2,
    scale: 1,
    unit: "min",
    min: 1,
    max: 50,
  },
  {
    name: "charge_efficiency",
    label: "Charge efficiency factor",
    register: 0x1004,
    size: 2,
    scale: 1,
    unit: "%",
    min: 50,
    max: 99,
  },
  {
    name: "peukert_exponent",
    label: "Peukert exponent",
    register: 0x1005,
    size: 2,
    scale: 0.01,
    min: 1,
    max: 1.5,
  },
];

/** The settings of a product family. */
export function settingsOf(family: SettingsFamily): SettingSpec[] {
  return family === "charger" ? CHARGER_SETTINGS : MONITOR_SETTINGS;
}

/** What bounds a setting's value on one device. */
export interface DeviceRatings {
  /** The battery's nominal voltage (12, 24, 36, 48). */
  nominalVolts?: number;
  /** The charger's rated current, A (15 for a 75/15). */
  ratedCurrent?: number;
  /** The most the battery may take, A (the source's `battery_max_current`). */
  batteryMaxCurrent?: number;
}

/** A setting's bounds on a device: the listed ones, scaled by its nominal voltage or rating. */
export function boundsOf(spec: SettingSpec, ratings: DeviceRatings = {}): [number, number] {
  let [min, max] = [spec.min ?? 0, spec.max ?? Infinity];
  if (spec.perNominalVolt) {
    const factor = (ratings.nominalVolts ?? 12) / 12;
    [min, max] = [round(min * factor, spec.scale), round(max * factor, spec.scale)];
  }
  if (spec.ratedCurrent && ratings.ratedCurrent) max = Math.min(max, ratings.ratedCurrent);
  if (spec.ratedCurrent && ratings.batteryMaxCurrent) {
    max = Math.min(max, ratings.batteryMaxCurrent);
  }
  return [min, max];
}

/** The battery's nominal voltage from a measured one (a 12 V battery reads 10-16 V). */
export function nominalVolts(measured: number): number {
  for (const nominal of [12, 24, 36, 48]) if (measured < nominal * 1.4) return nominal;
  return 48;
}

/** A charger's rated current from its product name (`SmartSolar MPPT 75/15` -> 15). */
export function ratedCurrent(product: string | undefined): number | undefined {
  const m = product?.match(/MPPT \d+\/(\d+)/);
  return m ? Number(m[1]) : undefined;
}

/** The value shown for a raw register value: a number in the unit, or the choice's word. */
export function settingValue(spec: SettingSpec, raw: number): number | string {
  if (spec.choices) return spec.choices[raw] ?? `unknown (${raw})`;
  return round(raw * spec.scale, spec.scale);
}

/**
 * The raw register value for a requested value (a number in the unit, a choice's
 * word or raw number); an error message when it is not a value of the setting, or
 * (`range: true`) when it is outside what may be written.
 */
export function rawValue(
  spec: SettingSpec,
  value: unknown,
  options: DeviceRatings = {},
): { raw: number } | { error: string; range?: boolean } {
  if (spec.choices) {
    const entries = Object.entries(spec.choices);
    const hit = entries.find(([raw, word]) => word === value || Number(raw) === value);
    if (hit) return { raw: Number(hit[0]) };
    const words = entries.map(([raw, word]) => `${raw} (${word})`).join(", ");
    return { error: `${spec.name}: ${JSON.stringify(value)} is not one of ${words}` };
  }
  if (typeof value !== "number" || !Number.isFinite(value)) {
    return { error: `${spec.name}: give a number in ${spec.unit ?? "its unit"}` };
  }
  const [min, max] = boundsOf(spec, options);
  if (value < min || value > max) {
    const unit = spec.unit ? ` ${spec.unit}` : "";
    const caps = spec.ratedCurrent ? currentCaps(options) : "";
    return {
      error: `${spec.name}: ${value}${unit} is outside ${min}..${max}${unit}${caps}`,
      range: true,
    };
  }
  return { raw: Math.round(value / spec.scale) };
}

/** What caps a charge current, for a refusal: the charger's rating, the battery's limit. */
function currentCaps(r: DeviceRatings): string {
  const caps = [
    r.ratedCurrent ? `the charger's rating ${r.ratedCurrent} A` : "",
    r.batteryMaxCurrent ? `the battery's limit ${r.batteryMaxCurrent} A (battery_max_current)` : "",
  ].filter(Boolean);
  return caps.length ? ` (${caps.join(", ")}); give at most that` : "";
}

function round(v: number, scale: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(scale)));
  return Number(v.toFixed(digits));
}
