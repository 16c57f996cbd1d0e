/**
 * A charger's settings rules (victron/setting_rules.ts) applied to a device on a HEX link:
 * the state they need is read from the device in the change's turn, so two changes never
 * judge against the same stale absorption voltage.
 */
import type { SettingReading } from "../../device_settings.ts";
import {
  type ChargerState,
  safeRange,
  STATEFUL_SETTINGS,
  unsafeChange,
} from "../../victron/setting_rules.ts";
import {
  CHARGER_SETTINGS,
  type DeviceRatings,
  type SettingSpec,
  settingValue,
} from "../../victron/settings.ts";
import { flagsError, type HexLink } from "./hex_link.ts";

/** The equalisation voltage (0.01 V): read, never written; chargers without it say so. */
const EQUALISATION = 0xedf4;

const spec = (name: string) => CHARGER_SETTINGS.find((s) => s.name === name)!;

async function rawOf(link: HexLink, register: number): Promise<number | undefined> {
  const answer = await link.get(register);
  return flagsError(answer.flags ?? 0) ? undefined : answer.value;
}

/** Reads what the rules judge a voltage or battery type change by. */
export async function chargerState(
  link: HexLink,
  options: { equalisation?: boolean } = {},
): Promise<ChargerState> {
  const volts = async (name: string) => {
    const raw = await rawOf(link, spec(name).register);
    return raw === undefined ? undefined : raw * spec(name).scale;
  };
  const state: ChargerState = {
    batteryType: await rawOf(link, spec("battery_type").register),
    absorption: round2(await volts("absorption_voltage")),
    float: round2(await volts("float_voltage")),
  };
  if (options.equalisation) {
    const raw = await rawOf(link, EQUALISATION);
    // 0 or missing: the charger does not equalise.
    if (raw) state.equalisation = round2(raw / 100);
  }
  return state;
}

function round2(v: number | undefined): number | undefined {
  return v === undefined ? undefined : Number(v.toFixed(2));
}

/** Why a change to a charger is unsafe (a sentence saying what to do), or null. */
export async function unsafeReason(
  setting: SettingSpec,
  raw: number,
  options: { state: () => Promise<ChargerState>; ratings: DeviceRatings },
): Promise<string | null> {
  if (!STATEFUL_SETTINGS.includes(setting.name)) return null;
  const value = setting.choices ? raw : Number(settingValue(setting, raw));
  return unsafeChange(setting.name, value, {
    state: await options.state(),
    limits: {
      nominalVolts: options.ratings.nominalVolts ?? 12,
      typeName: (r) => String(settingValue(spec("battery_type"), r)),
    },
  });
}

/** Narrows the voltages' bounds in a read to the safe range of the battery type read with them. */
export function safeReadings(settings: SettingReading[], ratings: DeviceRatings): void {
  const type = settings.find((s) => s.name === "battery_type")?.raw ?? undefined;
  for (const s of settings) {
    const range = safeRange(s.name, type, ratings.nominalVolts ?? 12);
    if (!range || s.min === undefined || s.max === undefined) continue;
    [s.min, s.max] = [Math.max(s.min, range[0]), Math.min(s.max, range[1])];
  }
}
