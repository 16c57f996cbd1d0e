/**
 * The one place a sink is made: its plugin looked up, its context built. The host (main thread)
 * and a sink's Worker both call {@link createSink}, so a sink sees the same context wherever it
 * runs; what differs is only where each piece comes from (see {@link SinkSurroundings}).
 */
import type { SettingsAccess } from "../device_settings.ts";
import type { Logger } from "../log.ts";
import type { Sink, SinkContext } from "../plugin.ts";
import { sinkPlugin } from "../sinks/registry.ts";
import type { ComponentStatus } from "../status.ts";
import type { Clock } from "../util/clock.ts";

/** A sink as configured: plain data, so that it crosses to a Worker as it is. */
export interface SinkSetup {
  /** The sink's config key. */
  name: string;
  type: string;
  gatewayId: string;
  /** The parsed config (its delivery settings included). */
  config: unknown;
}

/**
 * What the thread a sink runs on gives it. On the main thread: the host's log, status, clock and
 * views; in a Worker: the log and figures carried over to the main thread, and the host's views
 * (source kinds, stale devices, the clock's time) as of the last call.
 */
export interface SinkSurroundings {
  log: Logger;
  status: ComponentStatus;
  clock: Clock;
  kindOf(source: string): string | undefined;
  staleDevices(): string[];
  /** Device settings (a sink that takes writes, never one in a Worker: they cannot cross). */
  settings?: SettingsAccess;
}

/** The context a sink is created with. */
export function sinkContext(setup: SinkSetup, around: SinkSurroundings): SinkContext {
  const { log, status, clock, settings } = around;
  return {
    name: setup.name,
    gatewayId: setup.gatewayId,
    log,
    status,
    clock,
    kindOf: (source) => around.kindOf(source),
    staleDevices: () => around.staleDevices(),
    ...(settings ? { settings } : {}),
  };
}

/** Creates the sink `setup` names, from its plugin, with its context. */
export function createSink(setup: SinkSetup, around: SinkSurroundings): Sink {
  const plugin = sinkPlugin(setup.type);
  if (!plugin) {
    throw new Error(`sinks.${setup.name}: no sink of type "${setup.type}" (see the sink list)`);
  }
  // The config was parsed by the plugin's schema already (in a Worker: as plain data).
  return plugin.create(setup.config as never, sinkContext(setup, around));
}
