/**
 * The one audit path of setting writes, whoever asks (the HTTP API, a Venus `W/`): every
 * attempt is one event in the log and the outbox. `setting_changed` once a Set reached the
 * device (old, what it holds now, what was asked, outcome), `setting_refused` when it was
 * refused before (a policy, bounds, the device never answered the read of `old`).
 */
import {
  type DeviceSettings,
  type RefusedWrite,
  type SettingAttempt,
  type SettingChange,
  SettingError,
  type SettingRequest,
  type SettingsAccess,
} from "./device_settings.ts";
import type { Logger } from "./log.ts";
import type { GatewayEvent } from "./model.ts";
import { errorMessage } from "./status.ts";
import type { Clock } from "./util/clock.ts";

/** Where the audit events go: the pipeline's `raise` (null: the log only). */
export interface AuditOptions {
  clock: Clock;
  log: Logger;
  raise: ((events: GatewayEvent[]) => void) | null;
}

/** Settings access of the devices `find` names, every write attempt audited once. */
export function auditedSettings(
  find: (node: string) => DeviceSettings,
  options: () => AuditOptions,
): SettingsAccess {
  function raise(node: string | undefined, type: string, data: Record<string, unknown>): void {
    const { raise, clock, log } = options();
    // The pipeline logs the event as it stores it for the events sinks.
    if (!raise) {
      (type === "setting_changed" ? log.info : log.warn).call(log, type, { node, ...data });
    }
    raise?.([{ id: crypto.randomUUID(), type, ts: clock.now(), node, data }]);
  }

  function audit(node: string, a: (SettingChange | SettingAttempt) & { by: string }): void {
    const { setting, register, old, requested, outcome, by } = a;
    raise(node, "setting_changed", { setting, register, old, new: a.new, requested, outcome, by });
  }

  function refused(node: string | undefined, w: RefusedWrite): void {
    const { name: setting, value, by, reason, error, effect } = w;
    const outcome = w.outcome ?? "refused";
    const data = { setting, old: w.old ?? null, new: value, by, outcome, reason, error, effect };
    raise(node, "setting_refused", data);
  }

  async function change(node: string, request: SettingRequest): Promise<SettingChange> {
    const { name, value, by, confirm } = request;
    let change: SettingChange;
    try {
      change = await find(node).change(name, value, { confirm });
    } catch (e) {
      options().log.warn("setting not changed", {
        node,
        setting: name,
        by,
        error: errorMessage(e),
      });
      if (e instanceof SettingError && e.attempt) {
        audit(node, { ...e.attempt, by }); // it reached the device: what the device holds now
      } else {
        const known = e instanceof SettingError ? e : null;
        const outcome = known?.reason === "timeout" ? "timeout" : "refused";
        const [reason, error, effect] = [known?.reason ?? "error", errorMessage(e), known?.effect];
        refused(node, { name, value, by, reason, error, effect, outcome });
      }
      throw e;
    }
    // A device that holds another value than asked (its bounds, its resolution) clamped it;
    // `requested` is then what the caller asked, before the register's resolution rounded it.
    const clamped = change.outcome === "clamped" ||
      (typeof value === "number" && typeof change.new === "number" &&
        Math.abs(change.new - value) > 1e-9);
    if (clamped && typeof value === "number") change = { ...change, requested: value };
    change = { ...change, outcome: clamped ? "clamped" : "applied" };
    audit(node, { ...change, by });
    return change;
  }

  return { read: (node, o) => find(node).read(o), change, refused };
}
