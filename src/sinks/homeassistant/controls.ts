/**
 * Home Assistant entities that change a device's settings: a `switch` for what is on or off (the
 * charger, the load output), a `select` for a choice (battery type, load output mode), a `number`
 * for a voltage or a current (its range as the device reads it, the register's resolution as its
 * step). Made from a settings read, and only for the settings the source's `writable` allows.
 */
import type { SettingReading, SettingsReport } from "../../device_settings.ts";
import { CHARGER_SETTINGS, MONITOR_SETTINGS } from "../../victron/settings.ts";

/** One writable entity of a device. */
export interface Control {
  component: "switch" | "select" | "number";
  /** The setting it changes. */
  setting: string;
  /** Its key in topics and ids (`load_output_mode` for the load output's select). */
  key: string;
  /** Its discovery fields besides topics, ids and the device. */
  fields: Record<string, unknown>;
  /** The setting's value for a command's payload (the settings judge it). */
  toSetting(payload: unknown): unknown;
}

/** Settings shown as a switch: the words for ON and OFF, and when the state is ON. */
const SWITCHES: Record<string, { name: string; on: string; isOn: string }> = {
  device_mode: { name: "Charger", on: "on", isOn: "value_json.device_mode == 'on'" },
  // ON whenever the output is not off (on, or any automatic mode); turning it ON forces "on":
  // the automatic modes are the select's.
  load_output: { name: "Load output", on: "on", isOn: "value_json.load_output != 'off'" },
};

const STEP_OF = new Map([...CHARGER_SETTINGS, ...MONITOR_SETTINGS].map((s) => [s.name, s.scale]));

const DEVICE_CLASS: Record<string, string> = { V: "voltage", A: "current" };

/** The switch's payload as a setting's value: ON and OFF mapped, anything else as written. */
function switchValue(on: string): (payload: unknown) => unknown {
  return (p) => {
    const word = typeof p === "string" ? p.toUpperCase() : p;
    return word === "ON" ? on : word === "OFF" ? "off" : p;
  };
}

/** A number's payload as a number when it is one (HA sends "14.4"). */
function numberValue(p: unknown): unknown {
  if (typeof p !== "string" || p.trim() === "") return p;
  const n = Number(p);
  return Number.isFinite(n) ? n : p;
}

function controlsOf(s: SettingReading): Control[] {
  const out: Control[] = [];
  const sw = SWITCHES[s.name];
  if (sw) {
    out.push({
      component: "switch",
      setting: s.name,
      key: s.name,
      fields: { name: sw.name, value_template: `{{ 'ON' if ${sw.isOn} else 'OFF' }}` },
      toSetting: switchValue(sw.on),
    });
  }
  if (s.choices && (s.name !== "device_mode")) {
    out.push({
      component: "select",
      setting: s.name,
      key: sw ? `${s.name}_mode` : s.name,
      fields: {
        name: sw ? `${s.label} mode` : s.label,
        options: Object.values(s.choices),
        value_template: `{{ value_json['${s.name}'] }}`,
      },
      toSetting: (p) => p,
    });
  }
  if (!s.choices && s.min !== undefined && s.max !== undefined) {
    const fields: Record<string, unknown> = {
      name: s.label,
      min: s.min,
      max: s.max,
      step: STEP_OF.get(s.name) ?? 1,
      mode: "box",
      value_template: `{{ value_json['${s.name}'] }}`,
    };
    if (s.unit) fields.unit_of_measurement = s.unit;
    if (s.unit && DEVICE_CLASS[s.unit]) fields.device_class = DEVICE_CLASS[s.unit];
    out.push({
      component: "number",
      setting: s.name,
      key: s.name,
      fields,
      toSetting: numberValue,
    });
  }
  return out;
}

/**
 * The writable entities of a device's settings read: none for a setting the source's `writable`
 * leaves out, or whose value the device did not give (it would only be refused).
 */
export function controlsFor(report: SettingsReport): Control[] {
  return report.settings
    .filter((s) => s.writable === true && s.value !== null && !s.error)
    .flatMap(controlsOf);
}

/** The values a read gave, by setting: the settings state document. */
export function settingValues(report: SettingsReport): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const s of report.settings) if (s.value !== null) out[s.name] = s.value;
  return out;
}
