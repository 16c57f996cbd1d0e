import {
  type DeviceSettings,
  type SettingChange,
  SettingError,
  type SettingReading,
  type SettingsReport,
} from "../../device_settings.ts";
import {
  boundsOf,
  type DeviceRatings,
  nominalVolts,
  ratedCurrent,
  rawValue,
  type SettingsFamily,
  settingsOf,
  type SettingSpec,
  settingValue,
} from "../../victron/settings.ts";
import { effectOf } from "../../victron/setting_rules.ts";
import { chargerState, safeReadings, unsafeReason } from "./setting_checks.ts";
import { flagsError, type HexLink } from "./hex_link.ts";
import { judgeSet, READ_BACK_ATTEMPTS } from "./set_outcome.ts";

/** What the source knows of its device from the text frames. */
export interface DeviceIdentity {
  family?: SettingsFamily;
  product?: string;
  ratings: DeviceRatings;
}

/**
 * The identity of a device as its frames showed it (`seen`), with the ratings its settings are
 * judged by: the configured system voltage, else the one its battery voltage tells.
 */
export function identityOf(
  seen: { family?: SettingsFamily; product?: string; volts?: number },
  config: { system_voltage?: number; battery_max_current?: number },
): DeviceIdentity {
  const { family, product, volts } = seen;
  const nominal = config.system_voltage ?? (volts === undefined ? undefined : nominalVolts(volts));
  return {
    family,
    product,
    ratings: {
      nominalVolts: nominal,
      ratedCurrent: ratedCurrent(product),
      batteryMaxCurrent: config.battery_max_current,
    },
  };
}

/** Options of {@link VeDirectSettings}. */
export interface VeDirectSettingsOptions {
  /** The device as the last frame showed it. */
  identity(): DeviceIdentity;
  /** Settings that may be written: all, or these names. */
  writable: "all" | string[];
}

/** One VE.Direct device's settings over its HEX link. */
export class VeDirectSettings implements DeviceSettings {
  constructor(
    readonly node: string,
    readonly link: HexLink,
    readonly options: VeDirectSettingsOptions,
  ) {}

  #device(): DeviceIdentity & { family: SettingsFamily } {
    const device = this.options.identity();
    if (!device.family) {
      throw new SettingError(
        "not_identified",
        `${this.node}: no frame from the device yet tells what it is; try again in a few seconds`,
      );
    }
    return device as DeviceIdentity & { family: SettingsFamily };
  }

  /** Reads every known setting of the device (or those `names`), one register after another. */
  async read(options: { names?: string[] } = {}): Promise<SettingsReport> {
    const device = this.#device();
    const settings: SettingReading[] = [];
    for (const spec of settingsOf(device.family)) {
      if (options.names && !options.names.includes(spec.name)) continue;
      settings.push(await this.#readOne(spec, device.ratings));
    }
    if (device.family === "charger") safeReadings(settings, device.ratings);
    return { node: this.node, product: device.product ?? device.family, settings };
  }

  async #readOne(spec: SettingSpec, ratings: DeviceRatings): Promise<SettingReading> {
    const reading: SettingReading = {
      name: spec.name,
      label: spec.label,
      register: registerName(spec.register),
      value: null,
      raw: null,
      unit: spec.unit,
      writable: this.options.writable === "all" || this.options.writable.includes(spec.name),
    };
    if (spec.choices) reading.choices = { ...spec.choices };
    else [reading.min, reading.max] = boundsOf(spec, ratings);
    const answer = await this.link.get(spec.register);
    const refusal = flagsError(answer.flags ?? 0);
    if (refusal || answer.value === undefined) {
      reading.error = refusal || "no value in the answer";
      return reading;
    }
    reading.raw = answer.value;
    reading.value = settingValue(spec, answer.value);
    return reading;
  }

  /**
   * Writes one setting: checked here first (its range, then the rules of setting_rules.ts
   * against the device's state, then the confirmation of what stops charging or cuts a
   * load), then sent once and judged by what the device holds (its answer, or Gets when the
   * answer is late, unreadable or another value).
   */
  async change(
    setting: string,
    value: unknown,
    options: { confirm?: boolean } = {},
  ): Promise<SettingChange> {
    const device = this.#device();
    const specs = settingsOf(device.family);
    // A setting by its name, or by its register as VictronConnect shows it (`0xEDAB`).
    const spec = specs.find((s) =>
      s.name === setting || registerName(s.register) === setting.toUpperCase().replace("0X", "0x")
    );
    if (!spec) {
      const known = specs.map((s) => `${s.name} (${registerName(s.register)})`).join(", ");
      throw new SettingError(
        "unknown_setting",
        `${this.node} has no setting or register "${setting}" that may be written: ${known}`,
      );
    }
    const name = spec.name;
    const { writable } = this.options;
    if (writable !== "all" && !writable.includes(name)) {
      throw new SettingError(
        "not_writable",
        `${this.node}: "${name}" is not in the source's writable list`,
      );
    }
    const wanted = rawValue(spec, value, device.ratings);
    if ("error" in wanted) {
      const reason = wanted.range ? "unsafe_value" : "invalid_value";
      throw new SettingError(reason, `${this.node}: ${wanted.error}`);
    }
    if (device.family === "charger") {
      const state = () => chargerState(this.link, { equalisation: name === "absorption_voltage" });
      const unsafe = await unsafeReason(spec, wanted.raw, { state, ratings: device.ratings });
      if (unsafe) throw new SettingError("unsafe_value", `${this.node}: ${unsafe}`);
    }
    const effect = effectOf(name, wanted.raw);
    if (effect && !options.confirm) {
      throw new SettingError(
        "confirm_required",
        `${this.node}: ${name} ${settingValue(spec, wanted.raw)} needs confirming: ${effect} ` +
          `Send it again with "confirm": true to go ahead`,
        undefined,
        effect,
      );
    }
    const before = await this.#readOne(spec, device.ratings);
    const judged = await judgeSet(this.link, spec.register, {
      raw: wanted.raw,
      before: before.raw,
      size: spec.size,
    });
    const base = {
      node: this.node,
      setting: name,
      register: registerName(spec.register),
      old: before.value,
      requested: settingValue(spec, wanted.raw),
    };
    const { outcome, held } = judged;
    if ((outcome === "applied" || outcome === "clamped") && held !== null) {
      return { ...base, new: settingValue(spec, held), outcome };
    }
    const attempt = {
      ...base,
      new: held === null ? null : settingValue(spec, held),
      outcome: outcome === "unknown" ? "unknown" as const : "failed" as const,
    };
    const asked = `${name} = ${attempt.requested}`;
    if (outcome === "unknown") {
      throw new SettingError(
        "timeout",
        `${this.node}: ${asked} sent (${judged.answer}), then ${READ_BACK_ATTEMPTS} reads of ` +
          `${base.register} unanswered: what the device holds is unknown; read the settings again`,
        attempt,
      );
    }
    throw new SettingError(
      "refused",
      `${this.node}: ${asked} not taken (${judged.answer}); the device still holds ${attempt.new}`,
      attempt,
    );
  }
}

function registerName(register: number): string {
  return `0x${register.toString(16).toUpperCase().padStart(4, "0")}`;
}
