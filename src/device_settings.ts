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
  /** Whether the source lets it be changed (its `writable`); absent: not said. */
  writable?: boolean;
}

/** A device's settings, read now. */
export interface SettingsReport {
  node: string;
  product: string;
  settings: SettingReading[];
}

/**
 * How a change ended, as the device holds it afterwards: `applied` (what was asked), `clamped`
 * (another value: the device's own limit), `failed` (unchanged), `unknown` (it could not be read).
 */
export type SettingOutcome = "applied" | "clamped" | "failed" | "unknown";

/** A change the device holds (what was asked, or a value it clamped it to). */
export interface SettingChange {
  node: string;
  setting: string;
  register: string;
  old: number | string | null;
  /** What the device holds now. */
  new: number | string;
  /** The value asked for. */
  requested: number | string;
  outcome: "applied" | "clamped";
}

/** A change the device did not take (`failed`) or whose result is not known (`new` null). */
export interface SettingAttempt extends Omit<SettingChange, "new" | "outcome"> {
  new: number | string | null;
  outcome: "failed" | "unknown";
}

/** What an operator (or a Venus client) can do with one device's settings. */
export interface DeviceSettings {
  /** The node whose device these are. */
  readonly node: string;
  /** Reads every known setting of the device (or only those `names`). */
  read(options?: { names?: string[] }): Promise<SettingsReport>;
  /**
   * Writes one setting; resolves with what the device holds once it holds the value asked or
   * another (clamped); rejects with the {@link SettingAttempt} when it did not take it. A change
   * that stops charging or cuts a load is refused as `confirm_required` (with its effect)
   * unless `confirm` is true.
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
 * A settings request that failed, with the reason and a message saying what to do; `attempt`
 * when the request reached the device (what it holds: audited like a change); a change refused
 * as `confirm_required` carries what it would do (`effect`): a dry run.
 */
export class SettingError extends Error {
  constructor(
    readonly reason: SettingFailure,
    message: string,
    readonly attempt?: SettingAttempt,
    readonly effect?: string,
  ) {
    super(message);
    this.name = "SettingError";
  }
}

/** What became of an attempt to write a setting (the audit event's `outcome`). */
export type WriteOutcome = "applied" | "clamped" | "refused" | "timeout";

/** A write refused before it reached a device (a policy said no), for the audit. */
export interface RefusedWrite {
  /** The setting (or, when none matches, what was written: a topic's path). */
  name: string;
  /** The value asked for. */
  value: unknown;
  /** Who asked, as far as the gateway knows, and through what. */
  by: string;
  /** The value in force, when known. */
  old?: unknown;
  /** Why it was refused: a {@link SettingFailure} or a policy's words, for the operator. */
  reason: string;
  /** The refusal's message, when `reason` is a code. */
  error?: string;
  /** What the change would have done (a change waiting for confirmation: a dry run). */
  effect?: string;
  /** `timeout`: the device's answer never came (`refused` by default). */
  outcome?: "refused" | "timeout";
}

/** A change as asked: `confirm` says the owner agreed to what stops charging or cuts a load. */
export interface SettingRequest {
  name: string;
  value: unknown;
  by: string;
  confirm?: boolean;
}

/**
 * Settings of every device the gateway reaches, by node. Every attempt to write is one audit
 * event in the log and the outbox, whatever its outcome: `setting_changed` once it reached the
 * device (applied, clamped, failed, unknown) or `setting_refused` before (refused, timeout).
 */
export interface SettingsAccess {
  read(node: string, options?: { names?: string[] }): Promise<SettingsReport>;
  /** Changes a setting and records who did it, and what became of it. */
  change(node: string, change: SettingRequest): Promise<SettingChange>;
  /** Records a write refused before it reached the device (the same audit event). */
  refused(node: string | undefined, write: RefusedWrite): void;
}
