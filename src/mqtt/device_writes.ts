/**
 * The one path by which an MQTT message changes a device's setting, whatever layout it came in
 * (a Venus `W/` path, a Home Assistant command topic): the write policy says whether it may be
 * applied at all (writes on, the broker's ACL verified, not retained), writes wait their turn one
 * after another (a flood is dropped), each reaches the device through the settings' audited
 * path (ranges, cross-setting rules, confirmation) within a deadline, and a refusal is one audit
 * event within a flood bound. The layouts map topics and values; this decides and audits.
 */
import type {
  RefusedWrite,
  SettingChange,
  SettingRequest,
  SettingsAccess,
} from "../device_settings.ts";
import type { Logger } from "../log.ts";
import type { ComponentStatus } from "../status.ts";
import { errorMessage } from "../status.ts";
import { deadline } from "../util/timing.ts";
import type { WritePolicy } from "./write_policy.ts";

/** What {@link DeviceWrites} works with. */
export interface DeviceWritesOptions {
  settings?: SettingsAccess;
  /** Whether writes are taken now, and from whom. */
  policy: WritePolicy;
  status: ComponentStatus;
  log: Logger;
  /** The time (ms), for the audit's flood bound. */
  now(): number;
}

/** Writes waiting their turn at most (each may wait for the device); more are dropped. */
const MAX_WAITING = 32;
/**
 * Refused writes audited at once at most, then one a second: a publisher flooding refused
 * writes must not fill the log and the outbox (the rest are counted, `writes_not_audited`).
 */
const AUDIT_BURST = 60;
/**
 * The longest a write may wait for the device (its line's queue, then its answer): a change
 * that never settles must not hold every later write behind it.
 */
export const WRITE_DEADLINE_MS = 30_000;

/** MQTT writes to devices, one after another, each decided by the policy and audited once. */
export class DeviceWrites {
  #queue: Promise<void> = Promise.resolve();
  #waiting = 0;
  #tokens = AUDIT_BURST;
  #filled = -Infinity;

  constructor(readonly options: DeviceWritesOptions) {}

  /** Who a write comes from, as far as the broker guarantees it. */
  get who(): string {
    return this.options.policy.who;
  }

  /** Queues a write's handling after the ones before it; false (and counted) in a flood. */
  take(handle: () => Promise<void>): boolean {
    if (this.#waiting >= MAX_WAITING) {
      this.options.status.drop("writes_flood");
      return false;
    }
    this.#waiting++;
    this.#queue = this.#queue.then(handle).catch((e) => this.options.status.fail(e))
      .finally(() => this.#waiting--);
    return true;
  }

  /** Resolves when the writes taken so far are handled. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Why no write may be applied now (the policy, a retained message), or null. */
  refusal(options: { retained?: boolean } = {}): string | null {
    // A retained write is replayed by the broker at every subscription (every start).
    if (options.retained) return "a retained write (the broker would replay it at every start)";
    return this.options.policy.refusal;
  }

  /** One audit event for a write refused before it reached the device, within the flood bound. */
  refused(node: string | undefined, write: RefusedWrite): void {
    const now = this.options.now();
    this.#tokens = Math.min(AUDIT_BURST, this.#tokens + Math.max(0, (now - this.#filled) / 1000));
    this.#filled = now;
    if (this.#tokens < 1 || !this.options.settings) {
      this.options.status.drop("writes_not_audited");
      return;
    }
    this.#tokens--;
    this.options.settings.refused(node, write);
  }

  /**
   * Changes the setting through the audited settings path, within {@link WRITE_DEADLINE_MS};
   * rejects (counted `writes_refused`, logged) with the settings' error when it was not taken.
   */
  async apply(node: string, request: SettingRequest): Promise<SettingChange> {
    const { settings, status, log } = this.options;
    if (!settings) throw new Error(`${node}: no device settings here`);
    let settled = false;
    const changing = settings.change(node, request).finally(() => settled = true);
    try {
      // The settings path audits it (applied, clamped, refused, timed out).
      const change = await deadline(changing, WRITE_DEADLINE_MS, "the device's answer");
      status.count("writes");
      return change;
    } catch (e) {
      status.count("writes_refused");
      log.warn("mqtt write refused; the value stays", {
        node,
        setting: request.name,
        by: request.by,
        error: errorMessage(e),
      });
      // A change still pending at the deadline is audited here (the settings path would
      // audit it only when, if ever, it settles).
      if (!settled) {
        settings.refused(node, {
          name: request.name,
          value: request.value,
          by: request.by,
          reason: errorMessage(e),
          outcome: "timeout",
        });
      }
      throw e;
    }
  }
}
