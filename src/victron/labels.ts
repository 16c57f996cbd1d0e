/** VE.Direct label table: raw unit -> display unit with scale, and code-name tables. */

/** How one label's raw value becomes a number in display units. */
export interface LabelSpec {
  scale: number;
  unit: string;
  description: string;
}

const mV = (d: string): LabelSpec => ({ scale: 0.001, unit: "V", description: d });
const mA = (d: string): LabelSpec => ({ scale: 0.001, unit: "A", description: d });
const mAh = (d: string): LabelSpec => ({ scale: 0.001, unit: "Ah", description: d });
const kWh = (d: string): LabelSpec => ({ scale: 0.01, unit: "kWh", description: d });
const one = (unit: string, d: string): LabelSpec => ({ scale: 1, unit, description: d });

/** Numeric labels and their scaling (Victron's VE.Direct protocol document). */
export const NUMERIC_LABELS: Record<string, LabelSpec> = {
  V: mV("battery voltage"),
  V2: mV("battery voltage 2"),
  V3: mV("battery voltage 3"),
  VS: mV("auxiliary (starter) voltage"),
  VM: mV("mid-point voltage"),
  DM: { scale: 0.1, unit: "%", description: "mid-point deviation" },
  VPV: mV("panel voltage"),
  PPV: one("W", "panel power"),
  I: mA("battery current"),
  I2: mA("battery current 2"),
  I3: mA("battery current 3"),
  IL: mA("load current"),
  T: one("°C", "battery temperature"),
  P: one("W", "instantaneous power"),
  CE: mAh("consumed Ah"),
  SOC: { scale: 0.1, unit: "%", description: "state of charge" },
  TTG: one("min", "time to go"), // -1: infinite (charging); the page shows ∞
  // From a charger's HEX daily history (already in these units), not the text protocol.
  H_VBAT_MAX: one("V", "highest battery voltage today"),
  H_VBAT_MIN: one("V", "lowest battery voltage today"),
  H_BULK: one("min", "time in bulk today"),
  H_ABSORPTION: one("min", "time in absorption today"),
  H_FLOAT: one("min", "time in float today"),
  H1: mAh("deepest discharge"),
  H2: mAh("last discharge"),
  H3: mAh("average discharge"),
  H4: one("", "charge cycles"),
  H5: one("", "full discharges"),
  H6: mAh("cumulative Ah drawn"),
  H7: mV("minimum main voltage"),
  H8: mV("maximum main voltage"),
  H9: one("s", "since last full charge"),
  H10: one("", "automatic synchronisations"),
  H11: one("", "low main voltage alarms"),
  H12: one("", "high main voltage alarms"),
  H13: one("", "low auxiliary voltage alarms"),
  H14: one("", "high auxiliary voltage alarms"),
  H15: mV("minimum auxiliary voltage"),
  H16: mV("maximum auxiliary voltage"),
  H17: kWh("discharged energy"),
  H18: kWh("charged energy"),
  H19: kWh("yield total"),
  H20: kWh("yield today"),
  H21: one("W", "maximum power today"),
  H22: kWh("yield yesterday"),
  H23: one("W", "maximum power yesterday"),
  HSDS: one("", "day sequence number"),
  AC_OUT_V: { scale: 0.01, unit: "V", description: "AC output voltage" },
  AC_OUT_I: { scale: 0.1, unit: "A", description: "AC output current" },
  AC_OUT_S: one("VA", "AC output apparent power"),
};

/** Plain names of the labels that are not numeric measurements (the numeric ones: description). */
export const OTHER_LABEL_NAMES: Record<string, string> = {
  CS: "charge state",
  MPPT: "tracker mode",
  OR: "off reason",
  ERR: "error",
  LOAD: "load output",
  Alarm: "alarm",
  Relay: "relay",
  AR: "alarm reason",
  MODE: "device mode",
  WARN: "warning reason",
  MON: "DC monitor mode",
};

/** A label's plain name ("yield today" for H20), or the label itself. */
export function labelName(label: string): string {
  return NUMERIC_LABELS[label]?.description ?? OTHER_LABEL_NAMES[label] ?? label;
}

/** The plain name as a heading shows it: "Yield today" for H20. */
export function plainName(label: string): string {
  const name = labelName(label);
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** Labels whose value is ON/OFF. */
export const BOOLEAN_LABELS = new Set(["LOAD", "Alarm", "Relay"]);

/** Charger state (CS). */
export const CS_NAMES: Record<number, string> = {
  0: "Off",
  1: "Low power",
  2: "Fault",
  3: "Bulk",
  4: "Absorption",
  5: "Float",
  6: "Storage",
  7: "Equalize (manual)",
  9: "Inverting",
  11: "Power supply",
  245: "Starting-up",
  246: "Repeated absorption",
  247: "Auto equalize",
  248: "BatterySafe",
  252: "External control",
};

/** Error code (ERR). */
export const ERR_NAMES: Record<number, string> = {
  0: "None",
  2: "Battery voltage too high",
  17: "Charger temperature too high",
  18: "Charger over-current",
  19: "Current reversed",
  20: "Bulk time limit",
  21: "Current sensor issue",
  26: "Terminals overheated",
  28: "Converter issue",
  33: "PV voltage too high",
  34: "PV current too high",
  38: "Input shutdown (battery voltage)",
  39: "Input shutdown (current in off mode)",
  65: "Lost communication",
  66: "Sync-charging configuration",
  67: "BMS connection lost",
  68: "Network misconfigured",
  116: "Calibration lost",
  117: "Bad firmware",
  119: "User settings invalid",
};

/** Tracker operation mode (MPPT). */
export const MPPT_NAMES: Record<number, string> = {
  0: "Off",
  1: "Voltage/current limited",
  2: "MPP tracker active",
};

/** Device mode (MODE). */
export const MODE_NAMES: Record<number, string> = {
  1: "Charger",
  2: "Inverter",
  4: "Off",
  5: "Eco",
  253: "Hibernate",
};

/** Off reason bits (OR). */
export const OR_BITS: Record<number, string> = {
  0x1: "No input power",
  0x2: "Switched off (power switch)",
  0x4: "Switched off (device mode register)",
  0x8: "Remote input",
  0x10: "Protection active",
  0x20: "Paygo",
  0x40: "BMS",
  0x80: "Engine shutdown detection",
  0x100: "Analysing input voltage",
};

/** Alarm / warning reason bits (AR, WARN). */
export const AR_BITS: Record<number, string> = {
  1: "Low voltage",
  2: "High voltage",
  4: "Low SOC",
  8: "Low starter voltage",
  16: "High starter voltage",
  32: "Low temperature",
  64: "High temperature",
  128: "Mid voltage",
  256: "Overload",
  512: "DC ripple",
  1024: "Low V AC out",
  2048: "High V AC out",
  4096: "Short circuit",
  8192: "BMS lockout",
};

/** Product ids (PID) to names. */
export const PRODUCT_NAMES: Record<number, string> = {
  0x203: "BMV-700",
  0x204: "BMV-702",
  0x205: "BMV-700H",
  0xa381: "BMV-712 Smart",
  0xa382: "BMV-710H Smart",
  0xa383: "BMV-712 Smart Rev2",
  0xa389: "SmartShunt 500A/50mV",
  0xa38a: "SmartShunt 1000A/50mV",
  0xa38b: "SmartShunt 2000A/50mV",
  0x300: "BlueSolar MPPT 70/15",
  0xa042: "BlueSolar MPPT 75/15",
  0xa043: "BlueSolar MPPT 100/15",
  0xa044: "BlueSolar MPPT 100/30",
  0xa045: "BlueSolar MPPT 100/50",
  0xa046: "BlueSolar MPPT 150/70",
  0xa047: "BlueSolar MPPT 150/100",
  0xa04c: "BlueSolar MPPT 75/10",
  0xa053: "SmartSolar MPPT 75/15",
  0xa054: "SmartSolar MPPT 75/10",
  0xa055: "SmartSolar MPPT 100/15",
  0xa056: "SmartSolar MPPT 100/30",
  0xa057: "SmartSolar MPPT 100/50",
  0xa058: "SmartSolar MPPT 150/35",
  0xa060: "SmartSolar MPPT 100/20 48V",
  0xa063: "SmartSolar MPPT 150/70",
};

/** The product name of a PID; unknown ids stay usable as `unknown 0xNNNN`. */
export function productName(pid: number): string {
  const known = PRODUCT_NAMES[pid];
  if (known) return known;
  if (pid >= 0xa040 && pid <= 0xa04f) return `BlueSolar MPPT (0x${hex4(pid)})`;
  if (pid >= 0xa050 && pid <= 0xa071) return `SmartSolar MPPT (0x${hex4(pid)})`;
  if (pid >= 0xa200 && pid <= 0xa2ff) return `Phoenix Inverter (0x${hex4(pid)})`;
  return `unknown 0x${hex4(pid)}`;
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}

/** Names of the set bits of a bitmask, joined with ", " (`""` when none). */
export function bitNames(value: number, table: Record<number, string>): string {
  const names: string[] = [];
  for (const [bit, name] of Object.entries(table)) if (value & Number(bit)) names.push(name);
  return names.join(", ");
}
