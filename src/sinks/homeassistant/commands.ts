/**
 * Commands from Home Assistant's writable entities, on `<base>/set/<node>/<key>`. Each goes
 * through the one MQTT write path (mqtt/device_writes.ts: the write policy, the queue, the
 * settings' checks and audit), as a Venus `W/` does. Unlike a `W/`, a change that stops charging
 * or cuts a load is not confirmed by the command itself: HA sends the same payload for every
 * toggle, so a confirmation in it would confirm every toggle. It is refused as
 * `confirm_required` and waits; the device's "Confirm pending change" button applies it within
 * `confirm_within`. An automation may instead send `{"value": ..., "confirm": true}` (a script
 * someone wrote is the deliberate act). After every command the settings state is published
 * again (what the device holds: a refused change snaps the entity back) with the result (why).
 */
import { SettingError } from "../../device_settings.ts";
import type { DeviceWrites } from "../../mqtt/device_writes.ts";
import type { ComponentStatus } from "../../status.ts";
import { errorMessage } from "../../status.ts";
import type { Control } from "./controls.ts";

/** A change that waits for its confirmation. */
interface Pending {
  key: string;
  setting: string;
  value: unknown;
  effect?: string;
  /** Until when (monotonic ms) the button applies it. */
  until: number;
}

/** A device's writable entities, the values it holds, and the change waiting to be confirmed. */
export interface DeviceControls {
  node: string;
  controls: Control[];
  values: Record<string, number | string>;
  pending?: Pending;
}

/** The result of a command, published for the "Last setting write" sensor. */
export interface WriteResult {
  setting: string;
  value: unknown;
  /** applied, clamped, confirm_required, refused, failed, unknown, timeout. */
  outcome: string;
  reason?: string;
  message?: string;
  effect?: string;
  old?: unknown;
  new?: unknown;
}

/** What {@link HomeAssistantCommands} works with. */
export interface CommandsOptions {
  writes: DeviceWrites;
  /** The command topics' prefix, `<base>/set/`. */
  prefix: string;
  /** How long a change waits for its confirmation (ms). */
  confirmWithin: number;
  /** Monotonic time (ms). */
  monotonic(): number;
  /** The device of an object id in a topic, when its controls are announced. */
  device(objectId: string): DeviceControls | undefined;
  /** Publishes a device's settings state and the last command's result. */
  show(device: DeviceControls, result: WriteResult): Promise<void>;
  /** Reads the device's settings again (a battery type moves the voltages' safe ranges). */
  reread(device: DeviceControls): Promise<void>;
  status: ComponentStatus;
}

/** The key of the confirmation button's command topic. */
export const CONFIRM_KEY = "confirm";

/** A command's payload: a JSON `{"value", "confirm"}`, or what HA sends (`ON`, `14.4`, a word). */
function commandOf(payload: string): { value: unknown; confirm: boolean } {
  try {
    const parsed = JSON.parse(payload);
    if (typeof parsed === "object" && parsed !== null && "value" in parsed) {
      return { value: parsed.value, confirm: parsed.confirm === true };
    }
  } catch {
    // not JSON: HA's own payload
  }
  return { value: payload, confirm: false };
}

/** Handles Home Assistant's commands, one after another (through the shared write path). */
export class HomeAssistantCommands {
  constructor(readonly options: CommandsOptions) {}

  /** Takes a command message; it is handled after the ones before it (a flood is dropped). */
  take(topic: string, payload: string, options: { retained?: boolean } = {}): void {
    this.options.writes.take(() => this.#handle(topic, payload, options.retained ?? false));
  }

  async #handle(topic: string, payload: string, retained: boolean): Promise<void> {
    const { writes, status } = this.options;
    const [obj, key, ...rest] = topic.slice(this.options.prefix.length).split("/");
    const device = rest.length === 0 ? this.options.device(obj) : undefined;
    const by = `homeassistant ${topic} (${writes.who})`;
    const confirming = key === CONFIRM_KEY ? device?.pending : undefined;
    const expired = confirming !== undefined && this.options.monotonic() > confirming.until;
    const control = device?.controls.find((c) => c.key === key);
    const command = commandOf(payload);
    const policy = writes.refusal({ retained });
    const refusal = policy ??
      (!device || (!control && key !== CONFIRM_KEY)
        ? `${topic} is not a writable setting of a device here`
        : key === CONFIRM_KEY && (!confirming || expired)
        ? `no change waits for a confirmation (one waits ${
          this.options.confirmWithin / 1000
        } s after it was refused as confirm_required)`
        : null);
    if (refusal !== null || !device) {
      status.count(policy === null && !device ? "writes_ignored" : "writes_refused");
      const setting = control?.setting ?? confirming?.setting ?? key ?? topic;
      const value = key === CONFIRM_KEY ? confirming?.value ?? payload : command.value;
      writes.refused(device?.node, {
        name: setting,
        value,
        by,
        old: device?.values[setting],
        reason: refusal ?? "refused",
      });
      if (expired && device) device.pending = undefined;
      if (device) {
        await this.options.show(device, { setting, value, outcome: "refused", reason: refusal! });
      }
      return;
    }
    if (key === CONFIRM_KEY) {
      device.pending = undefined;
      const { setting, value, key: what } = confirming!;
      await this.#change(device, { setting, value, confirm: true, by: `${by} confirming ${what}` });
      return;
    }
    const value = control!.toSetting(command.value);
    await this.#change(device, { setting: control!.setting, value, confirm: command.confirm, by });
  }

  async #change(
    device: DeviceControls,
    c: { setting: string; value: unknown; confirm: boolean; by: string },
  ): Promise<void> {
    const { setting, value } = c;
    let result: WriteResult;
    try {
      const change = await this.options.writes.apply(device.node, {
        name: setting,
        value,
        by: c.by,
        confirm: c.confirm,
      });
      device.values[setting] = change.new;
      if (device.pending?.setting === setting) device.pending = undefined;
      result = { setting, value, outcome: change.outcome, old: change.old, new: change.new };
      if (setting === "battery_type") await this.options.reread(device).catch(() => {});
    } catch (e) {
      const known = e instanceof SettingError ? e : undefined;
      const attempt = known?.attempt;
      if (attempt?.new !== null && attempt?.new !== undefined) {
        device.values[setting] = attempt.new;
      }
      result = {
        setting,
        value,
        outcome: attempt?.outcome ?? (known?.reason === "timeout" ? "timeout" : "refused"),
        reason: known?.reason ?? "error",
        message: errorMessage(e),
      };
      if (known?.reason === "confirm_required") {
        const key = device.controls.find((k) => k.setting === setting)?.key ?? setting;
        const until = this.options.monotonic() + this.options.confirmWithin;
        device.pending = { key, setting, value, effect: known.effect, until };
        result = {
          ...result,
          outcome: "confirm_required",
          effect: known.effect,
          message: `${known.effect} Press "Confirm pending change" within ${
            this.options.confirmWithin / 1000
          } s to go ahead.`,
        };
      }
    }
    await this.options.show(device, result);
  }
}
