/**
 * VE.Direct record -> Venus OS D-Bus paths (victronenergy/venus wiki "dbus"):
 * SI units except energy in kWh and temperature in degrees Celsius.
 */
import type { FieldValue, Sample } from "../../model.ts";

/** The Venus services a VE.Direct device maps to. */
export type VenusService = "solarcharger" | "battery";

type Value = number | string | null;
type Mapping = Record<string, (f: Record<string, FieldValue>) => Value | undefined>;

const num = (label: string) => (f: Record<string, FieldValue>) => {
  const v = f[label];
  return typeof v === "number" ? v : typeof v === "boolean" ? (v ? 1 : 0) : undefined;
};

/** com.victronenergy.solarcharger paths. */
export const SOLARCHARGER: Mapping = {
  "/Pv/V": num("VPV"),
  "/Yield/Power": num("PPV"),
  "/Dc/0/Voltage": num("V"),
  "/Dc/0/Current": num("I"),
  "/State": num("CS"),
  "/ErrorCode": num("ERR"),
  "/MppOperationMode": num("MPPT"),
  "/DeviceOffReason": num("OR"),
  // Off by the device mode register (OR bit 0x4) is Mode 4; otherwise the charger is on (1).
  "/Mode": (f) => typeof f.OR === "number" ? (f.OR & 4 ? 4 : 1) : undefined,
  "/Load/State": num("LOAD"),
  "/Load/I": num("IL"),
  "/Yield/User": num("H19"),
  // One charger is the whole system a VE.Direct port sees.
  "/Yield/System": num("H19"),
  "/History/Daily/0/Yield": num("H20"),
  "/History/Daily/0/MaxPower": num("H21"),
  "/History/Daily/1/Yield": num("H22"),
  "/History/Daily/1/MaxPower": num("H23"),
  // From the charger's HEX daily history (src/sources/vedirect/history.ts).
  "/History/Daily/0/MaxBatteryVoltage": num("H_VBAT_MAX"),
  "/History/Daily/0/MinBatteryVoltage": num("H_VBAT_MIN"),
  "/History/Daily/0/TimeInBulk": num("H_BULK"),
  "/History/Daily/0/TimeInAbsorption": num("H_ABSORPTION"),
  "/History/Daily/0/TimeInFloat": num("H_FLOAT"),
};

const ALARM_BITS: Record<string, number> = {
  LowVoltage: 1,
  HighVoltage: 2,
  LowSoc: 4,
  LowStarterVoltage: 8,
  HighStarterVoltage: 16,
  LowTemperature: 32,
  HighTemperature: 64,
  MidVoltage: 128,
};

const HISTORY: Record<string, string> = {
  DeepestDischarge: "H1",
  LastDischarge: "H2",
  AverageDischarge: "H3",
  ChargeCycles: "H4",
  FullDischarges: "H5",
  TotalAhDrawn: "H6",
  MinimumVoltage: "H7",
  MaximumVoltage: "H8",
  TimeSinceLastFullCharge: "H9",
  AutomaticSyncs: "H10",
  LowVoltageAlarms: "H11",
  HighVoltageAlarms: "H12",
  LowStarterVoltageAlarms: "H13",
  HighStarterVoltageAlarms: "H14",
  MinimumStarterVoltage: "H15",
  MaximumStarterVoltage: "H16",
  DischargedEnergy: "H17",
  ChargedEnergy: "H18",
};

/** com.victronenergy.battery paths (BMV, SmartShunt). */
export const BATTERY: Mapping = {
  "/Dc/0/Voltage": num("V"),
  "/Dc/0/Current": num("I"),
  "/Dc/0/Power": num("P"),
  "/Dc/0/Temperature": num("T"),
  "/Dc/1/Voltage": num("VS"),
  "/Dc/0/MidVoltage": num("VM"),
  "/Dc/0/MidVoltageDeviation": num("DM"),
  "/Soc": num("SOC"),
  "/ConsumedAmphours": num("CE"),
  // VE.Direct TTG is minutes, -1 when infinite; Venus uses seconds and null.
  "/TimeToGo": (f) => typeof f.TTG === "number" ? (f.TTG < 0 ? null : f.TTG * 60) : undefined,
  "/Relay/0/State": num("Relay"),
  ...Object.fromEntries(
    Object.entries(ALARM_BITS).map(([name, bit]) => [
      `/Alarms/${name}`,
      (f: Record<string, FieldValue>) =>
        typeof f.AR === "number" ? (f.AR & bit ? 2 : 0) : undefined,
    ]),
  ),
  ...Object.fromEntries(
    Object.entries(HISTORY).map(([name, label]) => [`/History/${name}`, num(label)]),
  ),
};

/** Which Venus service a device is: a battery monitor reports SOC or CE, a charger PV. */
export function serviceOf(fields: Record<string, FieldValue>): VenusService | null {
  if ("SOC" in fields || "CE" in fields) return "battery";
  if ("PPV" in fields || "VPV" in fields) return "solarcharger";
  return null;
}

/** The Venus path values of a sample, identity paths included; null when not a known device. */
export function venusValues(
  sample: Sample,
): { service: VenusService; values: Record<string, Value> } | null {
  const service = serviceOf(sample.fields);
  if (!service) return null;
  const values: Record<string, Value> = {};
  for (const [path, get] of Object.entries(service === "battery" ? BATTERY : SOLARCHARGER)) {
    const v = get(sample.fields);
    if (v !== undefined) values[path] = v;
  }
  const tags = sample.tags ?? {};
  if (tags.pid) values["/ProductId"] = parseInt(tags.pid, 16);
  if (tags.product) values["/ProductName"] = tags.product;
  if (tags.serial) values["/Serial"] = tags.serial;
  if (tags.firmware) values["/FirmwareVersion"] = tags.firmware;
  values["/Mgmt/Connection"] = "VE.Direct";
  values["/Connected"] = 1;
  return { service, values };
}

/** A stable device instance for a node (288..387, like Venus' VE.Direct range). */
export function defaultInstance(node: string): number {
  let h = 2166136261;
  for (let i = 0; i < node.length; i++) h = Math.imul(h ^ node.charCodeAt(i), 16777619);
  return 288 + ((h >>> 0) % 100);
}
