/**
 * The contract for device settings (VE.Direct HEX registers today): what a source
 * that can read and change its device's settings offers, what the HTTP API and the
 * Venus sink ask of it, and the errors they map to answers.
 */

/** One setting as read from the device. */
export interface SettingReading {
  name: string;
  label: string;
  /** The register, `0xEDF7`. */
  register: string;
  /** A number in `unit`, or a choice's word; null when the device did not give it. */
  value: number | string | null;
  raw: number | null;
  unit?: string;
  /** Bounds on this device (a number setting). */
  min?: number;
  max?: number;
  /** Raw values and their words (a choice). */
  choices?: Record<string, string>;
  /** Why the value is missing (the device does not know the register, ...). */
  error?: string;
}

/** A device's settings, read now. */
export interface SettingsReport {
  node: string;
  product: string;
  settings: SettingReading[];
}

/** A change the device confirmed. */
export interface SettingChange {
  node: string;
  setting: string;
  register: string;
  old: number | string | null;
  new: number | string;
}

/** What an operator (or a Venus client) can do with one device's settings. */
export interface DeviceSettings {
  /** The node whose device these are. */
  readonly node: string;
  /** Reads every known setting of the device (or only those `names`). */
  read(options?: { names?: string[] }): Promise<SettingsReport>;
  /**
   * Writes one setting; resolves once the device confirmed it. A change that stops charging or
   * cuts a load is refused as `confirm_required` (with its effect) unless `confirm` is true.
   */
  change(name: string, value: unknown, options?: { confirm?: boolean }): Promise<SettingChange>;
}

/** Why a settings request failed: the HTTP API maps each reason to a status. */
export type SettingFailure =
  | "unknown_node"
  | "unknown_setting"
  | "not_writable"
  | "invalid_value"
  | "unsafe_value"
  | "confirm_required"
  | "not_identified"
  | "unavailable"
  | "busy"
  | "timeout"
  | "refused";

/**
 * A settings request that failed, with the reason and a message saying what to do; a change
 * refused as `confirm_required` carries what it would do (`effect`): a dry run.
 */
export class SettingError extends Error {
  constructor(readonly reason: SettingFailure, message: string, readonly effect?: string) {
    super(message);
    this.name = "SettingError";
  }
}

/** A change as asked: `confirm` says the owner agreed to what stops charging or cuts a load. */
export interface SettingRequest {
  name: string;
  value: unknown;
  by: string;
  confirm?: boolean;
}

/** Settings of every device the gateway reaches, by node; changes are audited. */
export interface SettingsAccess {
  read(node: string, options?: { names?: string[] }): Promise<SettingsReport>;
  /**
   * Changes a setting and records who did it (an audit event in the log and the outbox); a
   * refused attempt is one `setting_refused` event.
   */
  change(node: string, change: SettingRequest): Promise<SettingChange>;
}
