/**
 * `W/<portal>/<service>/<instance>/<path>` as a GX takes them: a client (Home
 * Assistant's victron-mqtt, Node-RED) writes a path, the device's setting is
 * changed over VE.Direct HEX, and the path's value is published again. A write
 * the gateway refuses changes nothing and the current value is republished, as
 * a GX does; a path it does not know is ignored.
 */
import type { SettingsAccess } from "../../device_settings.ts";
import type { Logger } from "../../log.ts";
import type { ComponentStatus } from "../../status.ts";
import { errorMessage } from "../../status.ts";

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
}

/** Writes waiting their turn at most (each may wait for the device); more are dropped. */
const MAX_WAITING = 32;

/** Handles `W/` writes, one after another. */
export class VenusWrites {
  #queue: Promise<void> = Promise.resolve();
  #waiting = 0;

  constructor(readonly options: VenusWritesOptions) {}

  /** Takes a `W/...` message; it is handled after the ones before it (a flood is dropped). */
  take(topic: string, payload: string): void {
    if (this.#waiting >= MAX_WAITING) {
      this.options.status.drop("writes_flood");
      return;
    }
    this.#waiting++;
    this.#queue = this.#queue.then(() => this.#handle(topic, payload))
      .finally(() => this.#waiting--);
  }

  /** Resolves when the writes taken so far are handled. */
  settled(): Promise<void> {
    return this.#queue;
  }

  async #handle(topic: string, payload: string): Promise<void> {
    const { portal, status, log } = this.options;
    const m = /^W\/([^/]+)\/(solarcharger)\/(\d+)(\/.+)$/.exec(topic);
    const path = m?.[4];
    const prefix = m ? `N/${portal}/${m[2]}/${m[3]}` : "";
    const node = m && m[1] === portal ? this.options.nodeOf(prefix) : undefined;
    const writable = path ? WRITABLE[path] : undefined;
    if (!node || !writable || !this.options.settings) {
      status.count("writes_ignored");
      return;
    }
    const n = `${prefix}${path}`;
    let written: unknown;
    try {
      written = JSON.parse(payload)?.value;
    } catch {
      written = undefined;
    }
    const value = writable.toSetting(written);
    try {
      if (value === null) throw new Error(`${JSON.stringify(written)} is not a value for ${path}`);
      const change = await this.options.settings.change(node, {
        name: writable.setting,
        value,
        by: `venus ${topic}`,
        // A W/ write is the client's own act (its switch turned off): MQTT has no way to ask
        // back, so which paths may be written at all is where an owner limits it.
        confirm: true,
      });
      status.count("writes");
      await this.options.publish(n, JSON.stringify({ value: writable.toVenus(change.new) }));
    } catch (e) {
      status.count("writes_refused");
      log.warn("venus write refused; the value stays", { topic, error: errorMessage(e) });
      const current = this.options.last(n);
      if (current !== undefined) await this.options.publish(n, current).catch(() => {});
    }
  }
}
