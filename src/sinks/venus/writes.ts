/**
 * `W/<portal>/<service>/<instance>/<path>` as a GX takes them: a client (Home
 * Assistant's victron-mqtt, Node-RED) writes a path, the device's setting is
 * changed over VE.Direct HEX, and the path's value is published again. A write
 * the gateway refuses changes nothing and the current value is republished, as
 * a GX does. Writes are off unless the config turns them on (see WritePolicy), and every one,
 * whatever becomes of it, is one audit event through the settings' audit path.
 */
import type { SettingsAccess } from "../../device_settings.ts";
import type { Logger } from "../../log.ts";
import type { WritePolicy } from "../../mqtt/write_policy.ts";
import type { ComponentStatus } from "../../status.ts";
import { errorMessage } from "../../status.ts";
import { deadline } from "../../util/timing.ts";

/** A writable Venus path: the setting it changes and how the two values map. */
interface WritablePath {
  setting: string;
  /** The setting's value for a written Venus value; null when the value is not allowed. */
  toSetting(v: unknown): number | string | null;
  /** The Venus value that shows a setting's (confirmed) value. */
  toVenus(v: number | string): number;
}

/** The solar charger paths a GX lets clients write, and the HEX setting behind each. */
export const WRITABLE: Record<string, WritablePath> = {
  // com.victronenergy.solarcharger /Mode: 1 on, 4 off (victron-mqtt's "Mode" switch).
  "/Mode": {
    setting: "device_mode",
    toSetting: (v) => v === 1 ? "on" : v === 4 ? "off" : null,
    toVenus: (v) => v === "off" ? 4 : 1,
  },
  // victron-mqtt's "Charge current limit" number.
  "/Settings/ChargeCurrentLimit": {
    setting: "max_charge_current",
    toSetting: (v) => typeof v === "number" && Number.isFinite(v) ? v : null,
    toVenus: (v) => Number(v),
  },
  // The load output: 1 always on, 0 off (read-only on a GX; Node-RED flows write it here).
  "/Load/State": {
    setting: "load_output",
    toSetting: (v) => v === 1 ? "on" : v === 0 ? "off" : null,
    toVenus: (v) => v === "off" ? 0 : 1,
  },
};

/** What {@link VenusWrites} works with. */
export interface VenusWritesOptions {
  portal: string;
  settings?: SettingsAccess;
  /** The node a device prefix (`N/<portal>/solarcharger/<instance>`) belongs to. */
  nodeOf(prefix: string): string | undefined;
  /** The last value published on a topic. */
  last(topic: string): string | undefined;
  /** Publishes (and remembers) a topic's value. */
  publish(topic: string, payload: string): Promise<void>;
  status: ComponentStatus;
  log: Logger;
  /** Whether writes are taken now, and from whom. */
  policy: WritePolicy;
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
const WRITE_DEADLINE_MS = 30_000;

/** Handles `W/` writes, one after another. */
export class VenusWrites {
  #queue: Promise<void> = Promise.resolve();
  #waiting = 0;
  #tokens = AUDIT_BURST;
  #filled = -Infinity;

  constructor(readonly options: VenusWritesOptions) {}

  /** Takes a `W/...` message; it is handled after the ones before it (a flood is dropped). */
  take(topic: string, payload: string, options: { retained?: boolean } = {}): void {
    if (this.#waiting >= MAX_WAITING) {
      this.options.status.drop("writes_flood");
      return;
    }
    this.#waiting++;
    this.#queue = this.#queue.then(() => this.#handle(topic, payload, options.retained))
      .finally(() => this.#waiting--);
  }

  /** Resolves when the writes taken so far are handled. */
  settled(): Promise<void> {
    return this.#queue;
  }

  async #handle(topic: string, payload: string, retained = false): Promise<void> {
    const { portal, status, log, policy, settings } = this.options;
    const m = /^W\/([^/]+)\/(solarcharger)\/(\d+)(\/.+)$/.exec(topic);
    const path = m?.[4];
    const prefix = m ? `N/${portal}/${m[2]}/${m[3]}` : "";
    const node = m && m[1] === portal ? this.options.nodeOf(prefix) : undefined;
    const writable = path ? WRITABLE[path] : undefined;
    const n = `${prefix}${path}`;
    const written = valueOf(payload);
    const by = `venus ${topic} (${policy.who})`;
    const value = writable?.toSetting(written) ?? null;
    // A retained write is replayed by the broker at every subscription (every start).
    const refusal =
      (retained ? "a retained write (the broker would replay it at every start)" : null) ??
        policy.refusal ??
        (!node || !writable || !settings
          ? `${topic} is not a writable path of a device here`
          : value === null
          ? `${JSON.stringify(written)} is not a value for ${path}`
          : null);
    if (refusal !== null || !settings || !writable || !node) {
      // Not a device's writable path: ignored as a GX does (still audited).
      const ignored = policy.refusal === null && !retained && (!writable || !node);
      status.count(ignored ? "writes_ignored" : "writes_refused");
      this.#refused(node, {
        name: writable?.setting ?? path ?? topic,
        value: written,
        by,
        // In the terms of the topic (what N/ shows): the setting itself is not read for a refusal.
        old: valueOf(this.options.last(n) ?? ""),
        reason: refusal ?? "refused",
      });
      await this.#restore(n);
      return;
    }
    let settled = false;
    // A W/ write is the client's own act (its switch turned off): MQTT has no way to ask back,
    // so which paths may be written at all (writes, writable) is where an owner limits it.
    const changing = settings.change(node, { name: writable.setting, value, by, confirm: true })
      .finally(() => settled = true);
    try {
      // The settings path audits it (applied, clamped, refused, timed out).
      const change = await deadline(changing, WRITE_DEADLINE_MS, "the device's answer");
      status.count("writes");
      await this.options.publish(n, JSON.stringify({ value: writable.toVenus(change.new) }));
    } catch (e) {
      status.count("writes_refused");
      log.warn("venus write refused; the value stays", { topic, error: errorMessage(e) });
      // A change still pending at the deadline is audited here (the settings path would
      // audit it only when, if ever, it settles).
      if (!settled) {
        settings.refused(node, {
          name: writable.setting,
          value,
          by,
          reason: errorMessage(e),
          outcome: "timeout",
        });
      }
      await this.#restore(n);
    }
  }

  /** Publishes the value in force again, so the client's entity snaps back (as a GX does). */
  async #restore(topic: string): Promise<void> {
    const current = this.options.last(topic);
    if (current !== undefined) await this.options.publish(topic, current).catch(() => {});
  }

  /** One audit event per refused write, within the flood bound. */
  #refused(node: string | undefined, write: Parameters<SettingsAccess["refused"]>[1]): void {
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
}

/** The `value` of a `{"value": ...}` payload (undefined when it is not one). */
function valueOf(payload: string): unknown {
  try {
    return JSON.parse(payload)?.value;
  } catch {
    return undefined;
  }
}
