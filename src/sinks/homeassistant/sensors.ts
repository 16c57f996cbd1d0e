/** Home Assistant sensor metadata for VE.Direct fields (units follow HA's device classes). */
import { NUMERIC_LABELS } from "../../victron/labels.ts";

/** What HA needs to know about one sensor. */
export interface SensorSpec {
  name: string;
  unit?: string;
  device_class?: string;
  state_class?: "measurement" | "total" | "total_increasing";
  icon?: string;
}

const CLASS_BY_UNIT: Record<string, string> = {
  V: "voltage",
  A: "current",
  W: "power",
  kWh: "energy",
  "°C": "temperature",
  min: "duration",
  s: "duration",
};

const TOTAL_INCREASING = new Set(["H17", "H18", "H19", "H20"]);
const TEXT_FIELDS: Record<string, string> = {
  CS_text: "Charger state",
  ERR_text: "Error",
  MPPT_text: "Tracker mode",
  OR_text: "Off reason",
  AR_text: "Alarm reason",
  MODE_text: "Device mode",
};

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The sensor of a field, or null for fields not worth a sensor (codes shown as text instead). */
export function sensorFor(field: string): SensorSpec | null {
  if (field in TEXT_FIELDS) return { name: TEXT_FIELDS[field], icon: "mdi:information-outline" };
  const label = NUMERIC_LABELS[field];
  if (!label) return null;
  const spec: SensorSpec = { name: capitalise(label.description) };
  if (label.unit) spec.unit = label.unit;
  if (field === "SOC") spec.device_class = "battery";
  else if (CLASS_BY_UNIT[label.unit]) spec.device_class = CLASS_BY_UNIT[label.unit];
  if (spec.device_class === "energy") {
    spec.state_class = TOTAL_INCREASING.has(field) ? "total_increasing" : "total";
  } else {
    spec.state_class = "measurement";
  }
  return spec;
}
