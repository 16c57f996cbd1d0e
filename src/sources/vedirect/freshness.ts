/**
 * When a VE.Direct device counts as silent: the one notion the source's state
 * (`stale`), /health, the page, /metrics, and through `SinkContext.staleDevices`
 * the Home Assistant and Venus sinks all read.
 */
import type { VeDirectConfig } from "./schema.ts";

/** A VE.Direct device sends a text frame every second (the simulator every `interval`). */
export const FRAME_INTERVAL_MS = 1000;
/** Frames missed before a device is stale... */
const STALE_INTERVALS = 5;
/** ...and never sooner than this (a 1 Hz device: 10 s, so a busy line's hiccup is no alarm). */
const MIN_STALE_MS = 10_000;

/** How long without a frame a device of this source stays fresh (`stale_after`, or derived). */
export function staleAfter(config: VeDirectConfig): number {
  if (config.stale_after !== undefined) return config.stale_after;
  const interval = config.simulate ? config.interval : FRAME_INTERVAL_MS;
  return Math.max(MIN_STALE_MS, STALE_INTERVALS * interval);
}

/** How often the source looks at the age of its last frame. */
export function judgeEvery(staleAfterMs: number): number {
  return Math.max(50, Math.min(1000, staleAfterMs / 4));
}

/**
 * Whether a device is stale at `now`: its last frame (or, before the first one, the moment
 * its port opened) is older than `staleAfterMs`.
 */
export function isStale(
  seen: { lastFrameAt: number | null; openedAt: number },
  now: number,
  staleAfterMs: number,
): boolean {
  return now - Math.max(seen.lastFrameAt ?? -Infinity, seen.openedAt) > staleAfterMs;
}
