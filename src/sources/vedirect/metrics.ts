/**
 * A VE.Direct device's values as Prometheus metrics: one family per quantity,
 * base units in the name (volts, amperes, watts, joules, seconds, ratios), the
 * charger state and tracker mode as enums (one series per state, 1 for the current),
 * and the lifetime totals of the history (H fields) as counters named `_total`.
 */
import type { DeviceMetric } from "../../plugin.ts";
import type { Sample } from "../../model.ts";
import { CS_NAMES, MPPT_NAMES } from "../../victron/labels.ts";

/** Field -> family name, help and the factor from the sample's unit to the base unit. */
const GAUGES: Record<string, [string, string, number]> = {
  V: ["battery_voltage_volts", "Battery voltage", 1],
  V2: ["battery2_voltage_volts", "Second battery voltage", 1],
  V3: ["battery3_voltage_volts", "Third battery voltage", 1],
  VS: ["auxiliary_voltage_volts", "Auxiliary (starter) battery voltage", 1],
  VM: ["midpoint_voltage_volts", "Mid-point voltage of the bank", 1],
  DM: ["midpoint_deviation_ratio", "Mid-point deviation", 0.01],
  VPV: ["panel_voltage_volts", "Panel voltage", 1],
  PPV: ["panel_power_watts", "Panel power", 1],
  I: ["battery_current_amperes", "Battery current (positive: charging)", 1],
  IL: ["load_current_amperes", "Load output current", 1],
  T: ["battery_temperature_celsius", "Battery temperature", 1],
  P: ["power_watts", "Instantaneous power", 1],
  CE: ["consumed_ampere_hours", "Consumed charge since full", 1],
  SOC: ["state_of_charge_ratio", "State of charge", 0.01],
  H1: ["deepest_discharge_ampere_hours", "Deepest discharge (negative: drawn)", 1],
  H2: ["last_discharge_ampere_hours", "Last discharge (negative: drawn)", 1],
  H3: ["average_discharge_ampere_hours", "Average discharge (negative: drawn)", 1],
  H7: ["battery_voltage_min_volts", "Lowest battery voltage seen", 1],
  H8: ["battery_voltage_max_volts", "Highest battery voltage seen", 1],
  H9: ["since_full_charge_seconds", "Time since the last full charge", 1],
  H15: ["auxiliary_voltage_min_volts", "Lowest auxiliary voltage seen", 1],
  H16: ["auxiliary_voltage_max_volts", "Highest auxiliary voltage seen", 1],
  H20: ["yield_today_joules", "Yield today", 3.6e6],
  H21: ["max_power_today_watts", "Highest power today", 1],
  H22: ["yield_yesterday_joules", "Yield yesterday", 3.6e6],
  H23: ["max_power_yesterday_watts", "Highest power yesterday", 1],
  H_VBAT_MAX: ["battery_voltage_max_today_volts", "Highest battery voltage today", 1],
  H_VBAT_MIN: ["battery_voltage_min_today_volts", "Lowest battery voltage today", 1],
  H_BULK: ["bulk_today_seconds", "Time in bulk today", 60],
  H_ABSORPTION: ["absorption_today_seconds", "Time in absorption today", 60],
  H_FLOAT: ["float_today_seconds", "Time in float today", 60],
  ERR: ["error_code", "Charger error code (0: none)", 1],
  OR: ["off_reason_code", "Off reason bits (0: on)", 1],
  AR: ["alarm_reason_code", "Alarm reason bits (0: none)", 1],
};

/** Lifetime totals (they only grow until the history is cleared): counters. */
const COUNTERS: Record<string, [string, string, number]> = {
  H4: ["charge_cycles_total", "Charge cycles", 1],
  H5: ["full_discharges_total", "Full discharges", 1],
  // The BMV reports charge drawn as a negative number of Ah; the counter counts it up.
  H6: ["discharged_ampere_hours_total", "Charge drawn from the battery, cumulative", -1],
  H10: ["automatic_syncs_total", "Automatic synchronisations", 1],
  H11: ["low_voltage_alarms_total", "Low main voltage alarms", 1],
  H12: ["high_voltage_alarms_total", "High main voltage alarms", 1],
  H13: ["low_auxiliary_voltage_alarms_total", "Low auxiliary voltage alarms", 1],
  H14: ["high_auxiliary_voltage_alarms_total", "High auxiliary voltage alarms", 1],
  H17: ["discharged_energy_joules_total", "Energy discharged from the battery", 3.6e6],
  H18: ["charged_energy_joules_total", "Energy charged into the battery", 3.6e6],
  H19: ["yield_joules_total", "Solar yield since the last reset", 3.6e6],
};

const ENUMS: Record<string, [string, string, string, Record<number, string>]> = {
  CS: ["charge_state", "Charger state (1 for the current one)", "state", CS_NAMES],
  MPPT: ["tracker_mode", "Tracker operation mode (1 for the current one)", "mode", MPPT_NAMES],
};

/** Digits after the point of a number as printed (null in exponent form). */
function decimals(x: number): number | null {
  const s = String(x);
  if (s.includes("e")) return null;
  const dot = s.indexOf(".");
  return dot < 0 ? 0 : s.length - dot - 1;
}

/**
 * `v * factor` to the digits the two carry: SOC 84.9 % is 0.849, not binary floating point's
 * 0.8490000000000001 (the field's resolution, 0.1 %, times the factor's).
 */
export function scaled(v: number, factor: number): number {
  const product = v * factor;
  const [dv, df] = [decimals(v), decimals(factor)];
  if (dv === null || df === null || !Number.isFinite(product)) return product;
  return Number(product.toFixed(Math.min(20, dv + df)));
}

/** The gauges of one VE.Direct sample. */
export function vedirectMetrics(sample: Sample): DeviceMetric[] {
  // A label with no value is left out (a simulated or older device has no serial).
  const labels: Record<string, string> = { node: sample.node };
  if (sample.tags?.product) labels.product = sample.tags.product;
  if (sample.tags?.serial) labels.serial = sample.tags.serial;
  const out: DeviceMetric[] = [];
  const f = sample.fields;
  for (const [table, type] of [[GAUGES, "gauge"], [COUNTERS, "counter"]] as const) {
    for (const [field, [name, help, factor]] of Object.entries(table)) {
      const v = f[field];
      if (typeof v === "number") {
        out.push({ name: `vedirect_${name}`, help, labels, value: scaled(v, factor), type });
      }
    }
  }
  if (typeof f.TTG === "number") {
    out.push({
      name: "vedirect_time_to_go_seconds",
      help: "Time until the battery is empty at the present current (+Inf when charging)",
      labels,
      value: f.TTG < 0 ? Infinity : f.TTG * 60,
    });
  }
  if (typeof f.LOAD === "boolean") {
    out.push({
      name: "vedirect_load_on",
      help: "Load output on (1) or off (0)",
      labels,
      value: +f.LOAD,
    });
  }
  for (const [field, [name, help, key, names]] of Object.entries(ENUMS)) {
    const v = f[field];
    if (typeof v !== "number") continue;
    const states = v in names
      ? Object.entries(names)
      : [...Object.entries(names), [v, `code ${v}`]];
    for (const [code, state] of states) {
      out.push({
        name: `vedirect_${name}`,
        help,
        labels: { ...labels, [key]: String(state) },
        value: Number(code) === v ? 1 : 0,
      });
    }
  }
  return out;
}
