/**
 * What a reload changes, worked out from the two configs alone (as Vector's
 * config diff): which sources and sinks start, stop or change, and which
 * sections only a restart can apply. Values are compared, not their text: a
 * YAML map written in another order changes nothing. Applying the plan is the
 * agent's job.
 */
import { sameValue as same } from "../util/same_value.ts";
import type { GatewayConfig } from "./schema.ts";

/** Names of components that start, stop or change. */
export interface ComponentChanges {
  start: string[];
  stop: string[];
  change: string[];
}

/** What a reload does. */
export interface ReloadPlan {
  sources: ComponentChanges;
  sinks: ComponentChanges;
  /** Sections that changed but take effect only after a restart. */
  restartRequired: string[];
  /** The log settings changed (applied at once). */
  log: boolean;
}

/** Sections a running gateway cannot swap. */
const RESTART_SECTIONS = ["gateway", "http", "store", "outbox", "events"] as const;

function diff(prev: Record<string, unknown>, next: Record<string, unknown>): ComponentChanges {
  return {
    start: Object.keys(next).filter((n) => !(n in prev)),
    stop: Object.keys(prev).filter((n) => !(n in next)),
    change: Object.keys(next).filter((n) => n in prev && !same(prev[n], next[n])),
  };
}

/** The plan that takes a gateway running `prev` to `next`. */
export function planReload(prev: GatewayConfig, next: GatewayConfig): ReloadPlan {
  return {
    sources: diff(prev.sources, next.sources),
    sinks: diff(prev.sinks, next.sinks),
    restartRequired: RESTART_SECTIONS.filter((k) => !same(prev[k], next[k])),
    log: !same(prev.log, next.log),
  };
}

/** Every component the plan touches, as `source.<name>` / `sink.<name>`. */
export function changedComponents(plan: ReloadPlan): string[] {
  const names = (kind: string, c: ComponentChanges) =>
    [...c.change, ...c.stop, ...c.start].map((n) => `${kind}.${n}`);
  return [...new Set([...names("source", plan.sources), ...names("sink", plan.sinks)])];
}
