/**
 * `W/<portal>/<service>/<instance>/<path>` as a GX takes them: a client (Home
 * Assistant's victron-mqtt, Node-RED) writes a path, the device's setting is
 * changed over VE.Direct HEX, and the path's value is published again. A write
 * the gateway refuses changes nothing and the current value is republished, as
 * a GX does. Writes are off unless the config turns them on (see WritePolicy); each goes through
 * the one MQTT write path (mqtt/device_writes.ts) and is one audit event, whatever becomes of it.
 */
import type { DeviceWrites } from "../../mqtt/device_writes.ts";
import type { ComponentStatus } from "../../status.ts";

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
  /** The one MQTT write path (policy, queue, audit) the writes go through. */
  writes: DeviceWrites;
  /** The node a device prefix (`N/<portal>/solarcharger/<instance>`) belongs to. */
  nodeOf(prefix: string): string | undefined;
  /** The last value published on a topic. */
  last(topic: string): string | undefined;
  /** Publishes (and remembers) a topic's value. */
  publish(topic: string, payload: string): Promise<void>;
  status: ComponentStatus;
}

/** Handles `W/` writes, one after another. */
export class VenusWrites {
  constructor(readonly options: VenusWritesOptions) {}

  /** Takes a `W/...` message; it is handled after the ones before it (a flood is dropped). */
  take(topic: string, payload: string, options: { retained?: boolean } = {}): void {
    this.options.writes.take(() => this.#handle(topic, payload, options.retained));
  }

  /** Resolves when the writes taken so far are handled. */
  settled(): Promise<void> {
    return this.options.writes.settled();
  }

  async #handle(topic: string, payload: string, retained = false): Promise<void> {
    const { portal, status, writes } = this.options;
    const m = /^W\/([^/]+)\/(solarcharger)\/(\d+)(\/.+)$/.exec(topic);
    const path = m?.[4];
    const prefix = m ? `N/${portal}/${m[2]}/${m[3]}` : "";
    const node = m && m[1] === portal ? this.options.nodeOf(prefix) : undefined;
    const writable = path ? WRITABLE[path] : undefined;
    const n = `${prefix}${path}`;
    const written = valueOf(payload);
    const by = `venus ${topic} (${writes.who})`;
    const value = writable?.toSetting(written) ?? null;
    const policy = writes.refusal({ retained });
    const refusal = policy ??
      (!node || !writable
        ? `${topic} is not a writable path of a device here`
        : value === null
        ? `${JSON.stringify(written)} is not a value for ${path}`
        : null);
    if (refusal !== null || !writable || !node || value === null) {
      // Not a device's writable path: ignored as a GX does (still audited).
      const ignored = policy === null && (!writable || !node);
      status.count(ignored ? "writes_ignored" : "writes_refused");
      writes.refused(node, {
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
    try {
      // A W/ write is the client's own act (its switch turned off): MQTT has no way to ask
      // back, so which paths may be written at all (writes, writable) is where an owner limits it.
      const change = await writes.apply(node, { name: writable.setting, value, by, confirm: true });
      await this.options.publish(n, JSON.stringify({ value: writable.toVenus(change.new) }));
    } catch {
      await this.#restore(n);
    }
  }

  /** Publishes the value in force again, so the client's entity snaps back (as a GX does). */
  async #restore(topic: string): Promise<void> {
    const current = this.options.last(topic);
    if (current !== undefined) await this.options.publish(topic, current).catch(() => {});
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
