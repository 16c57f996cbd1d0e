/**
 * The plugin contract: what a source or a sink is, what the gateway gives it,
 * and the delivery settings every sink shares. Sources push samples and await
 * the commit (back-pressure); sinks only write batches, the outbox owns the rest.
 */
import { z } from "zod";
import { duration, size } from "./config_values.ts";
import type { DeviceSettings, SettingsAccess } from "./device_settings.ts";
import type { Logger } from "./log.ts";
import type { Envelope, EnvelopeKind, Sample } from "./model.ts";
import type { ComponentJson, ComponentStatus } from "./status.ts";
import type { Clock } from "./util/clock.ts";
import type { TimePoint } from "./util/html.ts";

/** What the agent gives each source: where to push samples, how to log and count. */
export interface SourceContext {
  /** The source's config key. */
  name: string;
  /** The gateway id (unique per gateway, e.g. for MQTT client ids). */
  gatewayId: string;
  /**
   * Hands samples to the pipeline; awaiting it is the backpressure path. The promise resolves
   * once they are taken (committed within `gateway.commit_interval`), or with `wait` once they
   * are committed: a source that tells a sender "stored" (a PUBACK) or forgets where it read
   * waits. `receipts` ([id, digest] pairs) are committed with them: see {@link receipt}.
   */
  emit(
    samples: Sample[],
    options?: { receipts?: [string, string][]; wait?: boolean },
  ): Promise<void>;
  /** The digest this source's receipt `id` holds, committed by an earlier emit. */
  receipt(id: string): string | undefined;
  /**
   * Appends records that are not samples (policy rows, files) to the outbox and commits
   * them at once (the caller saves its own state next); throws when the outbox cannot.
   */
  append(envelopes: Envelope[]): void;
  /** The gateway's data directory, for a source's own state files. */
  dataDir: string;
  /** The time: read it here, never from `Date.now()`, so tests can move it. */
  clock: Clock;
  /** The site's time zone (IANA) for days people read and the simulated sun; default the system's. */
  timeZone?: string;
  /**
   * The timestamp of a sample of `node` made at `at` (default: now), unique within
   * the node's series: samples arriving in one millisecond get microsecond steps.
   */
  stamp(node: string, at?: number): number;
  log: Logger;
  status: ComponentStatus;
}

/** A running source. `start` returns once the source is running; `stop` ends it. */
export interface Source {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Applies a changed config in place when it can (true), else the agent restarts the source. */
  update?(config: unknown): boolean;
  /** Its device's settings, when it can read and change them (VE.Direct HEX). */
  readonly settings?: DeviceSettings;
}

/** A kind of source: its config schema and its factory. */
export interface SourcePlugin<S extends z.ZodType = z.ZodType> {
  type: string;
  /** Whether /health reports 503 when this source is down. */
  required?: boolean;
  schema: S;
  create(config: z.output<S>, ctx: SourceContext): Source;
  /** Kinds of record this source makes besides samples (the gateway warns when no sink takes one). */
  produces?(config: z.output<S>): EnvelopeKind[];
  /** Whether it makes its values up (a simulator): `run` and `check` warn when sinks forward them. */
  simulated?(config: z.output<S>): boolean;
  /** Problems the setup has that the schema cannot see (a missing program); `check` shows them. */
  preflight?(config: z.output<S>): Promise<string[]>;
  /** How the source shows on the status page (a plain card without one). */
  card?: SourceCard;
  /** Its samples as Prometheus gauges; without it, every number is `<kind>_value{field}`. */
  metrics?(sample: Sample): DeviceMetric[];
}

/** One measured value as a Prometheus gauge, or a counter for an ever-growing total. */
export interface DeviceMetric {
  /** Family name with base units (`vedirect_battery_voltage_volts`); counters end in `_total`. */
  name: string;
  /** `counter` for totals that only grow (a device reset aside); `gauge` by default. */
  type?: "gauge" | "counter";
  help: string;
  labels: Record<string, string>;
  value: number;
}

/** A source's card on the status page. */
export interface SourceCard {
  /** The card's HTML from the source's status (every value escaped). */
  render(
    name: string,
    status: ComponentJson,
    options: { sparks: Record<string, TimePoint[]>; now: number },
  ): string;
  /** The series drawn as last-hour sparklines (a node and its fields), if any. */
  sparks?(status: ComponentJson): { node: string; fields: string[] } | null;
  /** A field's plain name ("Yield today" for H20). */
  fieldName?(field: string): string;
  /** Sections the device view shows above its charts (HTML, every value escaped). */
  details?(status: ComponentJson): string;
  /** A picture of all sources of this kind at the top of the page (the power flow). */
  overview?(sources: [string, ComponentJson][], now: number): string;
}

/** Identity helper that keeps a plugin's config type tied to its schema. */
export function defineSource<S extends z.ZodType>(plugin: SourcePlugin<S>): SourcePlugin<S> {
  return plugin;
}

/** An upstream hop. The outbox owns batching, retries and acknowledgement. */
export interface Sink {
  /** Opens the connection (omitted by sinks with nothing to open, e.g. one request per write). */
  connect?(): Promise<void>;
  /** Delivers a batch; resolves only when the upstream acknowledged all of it. */
  write(batch: Envelope[]): Promise<void>;
  /**
   * `write` in two steps, for a sink whose upstream takes time to answer: `prepare` encodes
   * (and compresses) a batch, `send` sends what it made. The delivery then prepares the next
   * batch while one is in the air; batches are still sent one at a time, in order.
   */
  prepare?(batch: Envelope[]): Promise<unknown>;
  send?(prepared: unknown): Promise<void>;
  /**
   * Batches it may have in the air at once (1 by default). More than one only where a batch
   * sent twice is harmless: after a failure the later batch is sent again.
   */
  readonly inFlight?: number;
  close?(): Promise<void>;
}

/** What the agent gives each sink. */
export interface SinkContext {
  name: string;
  /** The gateway id, tagged on every record so a fleet can share one database. */
  gatewayId: string;
  log: Logger;
  status: ComponentStatus;
  /** The time, as the sources read it (records carry its stamps). */
  clock: Clock;
  /** The kind (`vedirect`, `mqtt`, ...) of a configured source, by its name. */
  kindOf?(source: string): string | undefined;
  /** The devices' settings, for a sink that takes writes (Venus `W/`); changes are audited. */
  settings?: SettingsAccess;
  /**
   * Nodes whose source says their device went silent or its port is down (the source's
   * `stale`): a sink that shows availability shows them offline at once.
   */
  staleDevices?(): string[];
}

/** Config fields every sink shares: what it forwards and how the outbox delivers to it. */
export const deliveryFields = {
  /** What this sink receives from the outbox. */
  forward: z.array(z.enum(["sample", "window", "event", "entry", "file"])).min(1).default([
    "sample",
  ]),
  /** Only nodes matching one of these globs (`mppt*`); all when empty. */
  nodes: z.array(z.string()).default([]),
  /** Only fields matching one of these globs; all when empty. */
  fields: z.array(z.string()).default([]),
  batch_size: z.number().int().min(1).max(100_000).default(1000),
  /** A batch stops growing past this many bytes (the first record always goes). */
  batch_bytes: size.default(8 * 1024 * 1024),
  max_wait: duration.default(1000),
  backoff_min: duration.default(500),
  backoff_max: duration.default(60_000),
  /** Per-attempt timeout for one write. */
  timeout: duration.default(10_000),
};

/** The delivery settings as parsed. */
export interface DeliveryConfig {
  forward: EnvelopeKind[];
  nodes: string[];
  fields: string[];
  batch_size: number;
  batch_bytes: number;
  max_wait: number;
  backoff_min: number;
  backoff_max: number;
  timeout: number;
}

/** A kind of sink: its config schema and its factory. */
export interface SinkPlugin<S extends z.ZodType = z.ZodType> {
  type: string;
  schema: S;
  create(config: z.output<S>, ctx: SinkContext): Sink;
  /**
   * Its work is CPU (decoding, encoding, compressing): it runs in a Worker of its own, off the
   * thread that takes data in (gateway.delivery_workers). The sink is the same there; only its
   * context's views are as of the last batch (`clock`, `kindOf`, `staleDevices`), and it gets
   * no `settings` (they cannot cross threads).
   */
  worker?: boolean;
}

/** Identity helper that keeps a plugin's config type tied to its schema. */
export function defineSink<S extends z.ZodType>(plugin: SinkPlugin<S>): SinkPlugin<S> {
  return plugin;
}
