/**
 * What a charger's settings must agree on, beyond each register's range: voltages inside
 * the battery type's safe range for the system voltage, float at most absorption (and
 * absorption at most equalisation), and what a change does that needs the owner's say-so
 * (stopping the charge, cutting the load). Pure: the caller reads the device's state.
 */

/** A battery type's safe voltages at 12 V (scaled by system voltage / 12). */
export interface BatteryRange {
  /** What the table says of the chemistry ("lead-acid gel/AGM"). */
  kind: string;
  absorption: [number, number];
  float: [number, number];
}

// From Victron's MPPT manuals (the rotary switch's battery presets, 12 V: gel long life
// 14.1/13.8, gel deep discharge 14.3-14.4/13.8, AGM spiral 14.7/13.8, tubular plate
// 14.9-15.3/13.8, LiFePO4 14.2/13.5) and the battery makers' sheets they cite: lead-acid
// gel/AGM absorb at 14.1-14.8 and float at 13.2-13.8; tubular plate (flooded, cyclic) absorbs up
// to 15.5; LiFePO4 absorbs at 13.8-14.6 (above that cells drift out of balance and the BMS trips)
// and floats at 13.3-13.8. "User defined" is the owner's battery maker's call: the widest span of
// the common chemistries (absorption 13.0-15.5, float 12.8-14.0), never the register's 10-16.5.
const GEL_AGM: BatteryRange = {
  kind: "lead-acid gel/AGM",
  absorption: [14.1, 14.8],
  float: [13.2, 13.8],
};
const TUBULAR: BatteryRange = {
  kind: "tubular plate (flooded)",
  absorption: [14.4, 15.5],
  float: [13.2, 13.8],
};
const LIFEPO4: BatteryRange = { kind: "LiFePO4", absorption: [13.8, 14.6], float: [13.3, 13.8] };
const USER: BatteryRange = { kind: "user defined", absorption: [13.0, 15.5], float: [12.8, 14.0] };

/** Safe ranges by the battery type register's raw value (0xEDF1). */
export const BATTERY_RANGES: Record<number, BatteryRange> = {
  1: GEL_AGM,
  2: GEL_AGM,
  3: GEL_AGM,
  4: GEL_AGM,
  5: TUBULAR,
  6: TUBULAR,
  7: TUBULAR,
  8: LIFEPO4,
  255: USER,
};

/** A charger's state that the rules read (voltages in V, the battery type raw). */
export interface ChargerState {
  batteryType?: number;
  absorption?: number;
  float?: number;
  equalisation?: number;
}

/** The system the charger is in. */
export interface SystemLimits {
  /** The battery's nominal voltage (12, 24, 36, 48). */
  nominalVolts: number;
  /** The battery type's name as the device's table words it. */
  typeName?: (raw: number) => string;
}

type Voltage = "absorption" | "float";
const VOLTAGE: Record<string, Voltage> = {
  absorption_voltage: "absorption",
  float_voltage: "float",
};

/** The settings whose rules read the charger's state (the others need none). */
export const STATEFUL_SETTINGS = ["absorption_voltage", "float_voltage", "battery_type"];

function scaled(range: [number, number], nominal: number): [number, number] {
  const f = nominal / 12;
  return [Number((range[0] * f).toFixed(2)), Number((range[1] * f).toFixed(2))];
}

/** The safe range of a voltage setting for a battery type (user defined when unknown). */
export function safeRange(
  setting: string,
  batteryType: number | undefined,
  nominalVolts: number,
): [number, number] | null {
  const which = VOLTAGE[setting];
  if (!which) return null;
  return scaled((BATTERY_RANGES[batteryType ?? 255] ?? USER)[which], nominalVolts);
}

/**
 * Why a change is unsafe for this charger (a sentence saying what to do), or null.
 * `value` is in the setting's unit, or the raw choice for the battery type.
 */
export function unsafeChange(
  setting: string,
  value: number,
  options: { state: ChargerState; limits: SystemLimits },
): string | null {
  const { state, limits } = options;
  const v = limits.nominalVolts;
  const typeName = (raw: number | undefined) =>
    raw === undefined ? "an unknown battery type" : (limits.typeName?.(raw) ?? `type ${raw}`);
  const which = VOLTAGE[setting];
  if (which) {
    const range = BATTERY_RANGES[state.batteryType ?? 255] ?? USER;
    const [lo, hi] = scaled(range[which], v);
    if (value < lo || value > hi) {
      return `${setting}: ${value} V is outside ${lo}..${hi} V, the safe ${which} range for ` +
        `${typeName(state.batteryType)} (${range.kind}) on a ${v} V system; choose a value ` +
        `in that range, or set battery_type to match the battery first`;
    }
    if (which === "float" && state.absorption !== undefined && value > state.absorption) {
      return `${setting}: ${value} V is above absorption_voltage (${state.absorption} V); float ` +
        `must not exceed absorption: lower the float, or raise absorption_voltage first`;
    }
    if (which === "absorption" && state.float !== undefined && value < state.float) {
      return `${setting}: ${value} V is below float_voltage (${state.float} V); absorption ` +
        `must not be under float: raise it, or lower float_voltage first`;
    }
    if (
      which === "absorption" && state.equalisation !== undefined && value > state.equalisation
    ) {
      return `${setting}: ${value} V is above the equalisation voltage (${state.equalisation} ` +
        `V); lower it, or raise the equalisation voltage on the charger first`;
    }
    return null;
  }
  if (setting === "battery_type") {
    const range = BATTERY_RANGES[value];
    if (!range) return null; // not a type with a table: the choice list already refused it
    const problems: string[] = [];
    for (const w of ["absorption", "float"] as const) {
      const now = state[w];
      const [lo, hi] = scaled(range[w], v);
      if (now !== undefined && (now < lo || now > hi)) {
        problems.push(`${w} is ${now} V (${typeName(value)} takes ${lo}..${hi} V)`);
      }
    }
    if (
      state.float !== undefined && state.absorption !== undefined && state.float > state.absorption
    ) problems.push(`float (${state.float} V) is above absorption (${state.absorption} V)`);
    if (problems.length === 0) return null;
    return `battery_type: switching to ${typeName(value)} would leave ${problems.join(", ")}; ` +
      `set absorption_voltage and float_voltage inside its range first (or choose user defined)`;
  }
  return null;
}

/**
 * What a change does that stops charging or cuts a load (a sentence), or null: such a change
 * needs the owner's confirmation. `raw` is the register's value.
 */
export function effectOf(setting: string, raw: number): string | null {
  if (setting === "device_mode" && raw === 4) {
    return "Switches the charger off: it stops charging the battery until the charger is set " +
      "on again, and the solar power is not used.";
  }
  if (setting === "load_output" && raw === 0) {
    return "Switches the load output off: whatever is connected to it loses power until the " +
      "load output is set on or automatic again.";
  }
  if (setting === "max_charge_current" && raw === 0) {
    return "Stops charging: with a maximum charge current of 0 A the charger puts nothing " +
      "into the battery.";
  }
  return null;
}
