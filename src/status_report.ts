/**
 * The /status document and /health, built from the components' statuses:
 * typed once here, read by the page, /metrics and the alert rules.
 */
import type { ComponentJson, ComponentStatus } from "./status.ts";
import type { ClockJson } from "./util/wall_clock.ts";

export type { ComponentJson } from "./status.ts";

/** The /status document. */
export interface StatusJson {
  status: HealthState;
  config_file: string | null;
  uptime_s: number;
  version: string;
  gateway_id: string;
  store: ComponentJson & { levels?: string[] };
  outbox: ComponentJson & {
    bytes: number;
    dead_letter_bytes: number;
    max_bytes: number;
    recovered?: { moved_to: string; salvaged?: number; lost?: number };
    /** The group commit: the loss window (commit_interval_ms, last_commit_at) and its cost. */
    commits?: {
      commit_interval_ms: number;
      last_commit_at: string | null;
      commits: number;
      early_commits: number;
      fsyncs: number;
      checkpoints: number;
      /** Commits not made: everything the outbox took in the interval went upstream first. */
      skipped?: number;
    };
  };
  /** The HTTP front: connections open, refused, timed out. */
  http: (ComponentJson & { connections: number }) | null;
  /** Errors no component caught. */
  process: ComponentJson;
  reload: {
    at: string;
    ok: boolean;
    errors?: string[];
    restart_required?: string[];
    /** Reloads run since the start, and requests that joined one already asked for. */
    reloads?: number;
    coalesced?: number;
  } | null;
  sources: Record<string, ComponentJson>;
  sinks: Record<string, ComponentJson>;
  /** The wall clock: synchronised or not, its steps (null when not watched). */
  clock?: ClockJson | null;
  /** hissrv's top-level figures, so its monitoring scripts read the gateway unchanged. */
  processed: number;
  failed: number;
  queue_size: number;
  last_sync: string | null;
}

/** The gateway's overall state. */
export type HealthState = "ok" | "degraded" | "down";

/** GET /health: the overall state and each component's. */
export interface Health {
  status: HealthState;
  components: Record<string, string>;
}

/**
 * `down` when a required component is down, `degraded` when any is down,
 * degraded or stale (a silent device). Core components (store, outbox) are listed by name, plugins as
 * `<kind>.<name>` (`vedirect.mppt1`).
 */
export function healthOf(parts: { core: ComponentStatus[]; plugins: ComponentStatus[] }): Health {
  const components: Record<string, string> = {};
  let status: HealthState = "ok";
  const judge = (c: ComponentStatus, key: string) => {
    components[key] = c.state;
    if (c.state === "down" && c.required) status = "down";
    else if (["down", "degraded", "stale"].includes(c.state) && status === "ok") {
      status = "degraded";
    }
  };
  for (const c of parts.core) judge(c, c.name);
  for (const c of parts.plugins) judge(c, `${c.kind}.${c.name}`);
  return { status, components };
}

/** What the status document is made of. */
export interface StatusParts {
  health: Health;
  version: string;
  gatewayId: string;
  configFile: string | null;
  uptimeS: number;
  store: ComponentStatus;
  levels: string[];
  outbox: { status: ComponentStatus; bytes: number; deadLetterBytes: number; maxBytes: number };
  sources: ComponentStatus[];
  sinks: { status: ComponentStatus; queue: ComponentJson["queue"] }[];
  http: ComponentStatus | null;
  process: ComponentStatus;
  reload: StatusJson["reload"];
  clock?: ClockJson | null;
}

/** The /status document. */
export function statusReport(parts: StatusParts): StatusJson {
  const http = parts.http?.toJSON();
  const sinks = parts.sinks.map((s) => ({ ...s.status.toJSON(), queue: s.queue }));
  return {
    status: parts.health.status,
    version: parts.version,
    gateway_id: parts.gatewayId,
    config_file: parts.configFile,
    uptime_s: parts.uptimeS,
    store: { ...parts.store.toJSON(), levels: parts.levels },
    outbox: {
      ...parts.outbox.status.toJSON(),
      bytes: parts.outbox.bytes,
      dead_letter_bytes: parts.outbox.deadLetterBytes,
      max_bytes: parts.outbox.maxBytes,
    },
    sources: Object.fromEntries(parts.sources.map((s) => [s.name, s.toJSON()])),
    sinks: Object.fromEntries(sinks.map((s) => [s.name, s])),
    http: http ? { ...http, connections: Number(http.connections ?? 0) } : null,
    process: parts.process.toJSON(),
    reload: parts.reload,
    clock: parts.clock ?? null,
    // hissrv's fields: records delivered upstream, failed writes, records waiting, last delivery.
    processed: sum(sinks.map((s) => s.processed)),
    failed: sum(sinks.map((s) => s.failed)),
    queue_size: sum(sinks.map((s) => s.queue?.records ?? 0)),
    last_sync: sinks.map((s) => s.last_success).filter((t): t is string => !!t).sort().at(-1) ??
      null,
  };
}

function sum(ns: number[]): number {
  return ns.reduce((a, b) => a + b, 0);
}
