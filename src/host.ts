/**
 * The component host: builds sources and sinks from their plugins, starts and
 * stops them, and keeps one failing component from taking the gateway down (a
 * source that cannot start is started again, backing off). Every sink is
 * wrapped in a {@link Delivery} on the outbox, here and nowhere else (its batches written on
 * this thread or, for a plugin that asks, in a Worker of its own).
 */
import type { ReloadPlan } from "./config/plan.ts";
import { type DeviceSettings, SettingError, type SettingsAccess } from "./device_settings.ts";
import { auditedSettings } from "./settings_audit.ts";
import type { Logger } from "./log.ts";
import type { EnvelopeKind } from "./model.ts";
import { workersAllowed } from "./util/workers.ts";
import { Delivery, sinkBatches } from "./delivery/mod.ts";
import type { Outbox } from "./outbox/outbox.ts";
import type { Pipeline } from "./pipeline.ts";
import { lineUpSettings } from "./settings_line.ts";
import type { DeliveryConfig, Source } from "./plugin.ts";
import { sinkPlugin } from "./sinks/registry.ts";
import { sourcePlugin } from "./sources/registry.ts";
import { ComponentStatus, errorMessage } from "./status.ts";
import type { Clock } from "./util/clock.ts";
import { backoffDelay, deadline } from "./util/timing.ts";

/** A component's config as parsed: its plugin type and its settings. */
export type ComponentConfig = { type: string } & Record<string, unknown>;

/** Components by name. */
type Configs = Record<string, ComponentConfig>;

/** A source the host runs. */
export interface RunningSource {
  source: Source;
  status: ComponentStatus;
  /** The next start attempt, when the last one failed. */
  retry?: ReturnType<typeof setTimeout>;
  /** The start in progress (a stop waits for it: a source stopped mid-start would go on). */
  starting?: Promise<void>;
}

/** Longest a stop waits for a start in progress before stopping the source anyway. */
const START_WAIT_MS = 15_000;

/** What the host builds components with. */
export interface HostOptions {
  outbox: Outbox;
  /** Where sources hand their samples (not needed for a host of sinks only). */
  pipeline?: Pipeline;
  gatewayId: string;
  dataDir: string;
  clock: Clock;
  log: Logger;
  /** Run the sinks whose plugin asks for it in Workers (gateway.delivery_workers). */
  workers?: boolean;
  /** The site's time zone (gateway.timezone), handed to the sources. */
  timeZone?: string;
}

/** Runs the configured sources and sinks. */
export class ComponentHost {
  readonly sources = new Map<string, RunningSource>();
  readonly deliveries = new Map<string, Delivery>();

  constructor(readonly options: HostOptions) {}

  /**
   * Every device's settings, by node; each attempt to write is logged and raised as one audit
   * event, inside its node's turn (settings_line.ts), so the audit's `old` chain holds.
   */
  readonly settings: SettingsAccess = lineUpSettings(
    auditedSettings((node) => this.#settingsOf(node), () => {
      const { clock, log, pipeline } = this.options;
      return { clock, log, raise: pipeline ? (events) => pipeline.raise(events) : null };
    }),
  );

  #settingsOf(node: string): DeviceSettings {
    for (const { source } of this.sources.values()) {
      if (source.settings?.node === node) return source.settings;
    }
    throw new SettingError(
      "unknown_node",
      `no device with settings is node "${node}" (VE.Direct sources have them)`,
    );
  }

  /** Deliveries send what waits now (before an interval's commit), within `withinMs`. */
  async flush(withinMs: number, options: { intervalMs: number }): Promise<void> {
    await Promise.all([...this.deliveries.values()].map((d) => d.flush(withinMs, options)));
  }

  /**
   * Builds a sink, registers its cursor and starts delivering to it
   * (`deliver: false` leaves the start to the caller).
   */
  startSink(name: string, config: ComponentConfig, options: { deliver?: boolean } = {}): Delivery {
    const { outbox, gatewayId, clock } = this.options;
    const plugin = sinkPlugin(config.type)!;
    const status = new ComponentStatus(name, config.type);
    const log = this.options.log.child(`sink.${name}`);
    const around = {
      log,
      status,
      clock,
      kindOf: (source: string) => this.#kindOf.get(source),
      staleDevices: () => this.#staleDevices(),
      settings: this.settings,
    };
    const view = () => ({ kinds: this.#kinds(), stale: this.#staleDevices(), now: clock.now() });
    const worker = !!plugin.worker && !!this.options.workers && workersAllowed();
    const setup = { name, type: config.type, gatewayId, config };
    const batches = sinkBatches(setup, { outbox, around, worker, view });
    const delivery = config as unknown as DeliveryConfig;
    outbox.register(name, { kinds: delivery.forward, nodes: delivery.nodes, status });
    const d = new Delivery(name, { outbox, batches, config: delivery, status, log, clock });
    if (options.deliver ?? true) d.start();
    this.deliveries.set(name, d);
    return d;
  }

  /**
   * The kind of every source started here, by name: kept while one restarts (a reload), so
   * records it made meanwhile are still encoded as its kind (InfluxDB's `{kind}` measurement).
   */
  readonly #kindOf = new Map<string, string>();

  /** Nodes of the running sources that judge their device stale (VE.Direct: no frame lately). */
  #staleDevices(): string[] {
    return [...this.sources.values()].filter((s) => s.status.info.stale === true)
      .map((s) => String(s.status.info.node ?? s.status.name));
  }

  /** The kind of each running source, by name. */
  #kinds(): Record<string, string> {
    return Object.fromEntries(this.#kindOf);
  }

  /** Stops a sink; `forget` also drops its cursor (removed from the config). */
  async stopSink(name: string, options: { forget?: boolean } = {}): Promise<void> {
    await this.deliveries.get(name)?.stop();
    this.deliveries.delete(name);
    if (options.forget) this.options.outbox.unregister(name);
  }

  /** Builds and starts a source; a failed start is retried with backoff (1 s to 1 min). */
  async startSource(
    name: string,
    config: ComponentConfig,
    options: { attempt?: number; status?: ComponentStatus } = {},
  ): Promise<void> {
    const { outbox, pipeline, gatewayId, dataDir, clock } = this.options;
    if (!pipeline) throw new Error("this host runs sinks only: sources need a pipeline");
    // Never two of one name: the one running (its connections, its Workers) ends first.
    if (this.sources.get(name)?.status !== options.status) await this.stopSource(name);
    const attempt = options.attempt ?? 0;
    const plugin = sourcePlugin(config.type)!;
    const status = options.status ??
      new ComponentStatus(name, config.type, plugin.required ?? false);
    const log = this.options.log.child(`source.${name}`);
    const source = plugin.create(config, {
      name,
      gatewayId,
      log,
      status,
      emit: (samples, o) =>
        pipeline.emit(samples, {
          receipts: o?.receipts ? { source: name, entries: o.receipts } : undefined,
          wait: o?.wait,
        }),
      receipt: (id) => outbox.receipt(name, id),
      append: (envelopes) => {
        outbox.append(envelopes);
        pipeline.options.commits?.commitNow();
      },
      dataDir,
      clock,
      timeZone: this.options.timeZone,
      stamp: (node, at) => pipeline.stamps.next(node, at),
    });
    const running: RunningSource = { source, status };
    this.sources.set(name, running);
    this.#kindOf.set(name, config.type);
    const starting = source.start();
    running.starting = starting.then(() => {}, () => {});
    try {
      await starting;
    } catch (e) {
      // One failing source never takes the gateway down: it is started again, backing off.
      status.fail(e);
      status.count("start_failures");
      const wait = backoffDelay(attempt, { min: 1000, max: 60_000 });
      log.error("source failed to start; trying again", {
        error: errorMessage(e),
        retry_ms: Math.round(wait),
      });
      await source.stop().catch(() => {});
      status.state = "down";
      running.retry = setTimeout(() => {
        if (this.sources.get(name) !== running) return; // stopped or replaced meanwhile
        void this.startSource(name, config, { attempt: attempt + 1, status });
      }, wait);
    }
  }

  /** Applies a changed config to a running source in place; false when it must restart. */
  updateSource(name: string, config: ComponentConfig): boolean {
    return this.sources.get(name)?.source.update?.(config) ?? false;
  }

  /** Stops a source (and any pending restart of it). */
  async stopSource(name: string): Promise<void> {
    const running = this.sources.get(name);
    this.sources.delete(name);
    if (!running) return;
    clearTimeout(running.retry);
    if (running.starting) {
      await deadline(running.starting, START_WAIT_MS, `start of ${name}`).catch(() => {});
    }
    await running.source.stop().catch((e) => running.status.fail(e));
  }

  /**
   * Applies a reload plan: changed sources updated in place or restarted,
   * changed sinks restarted (from their cursors), removed ones stopped (a
   * removed sink's cursor forgotten), new ones started.
   */
  async apply(plan: ReloadPlan, next: Record<"sources" | "sinks", Configs>): Promise<void> {
    for (const name of plan.sources.change) {
      if (!this.updateSource(name, next.sources[name])) await this.stopSource(name);
    }
    for (const name of plan.sources.stop) await this.stopSource(name);
    for (const name of plan.sinks.change) await this.stopSink(name);
    for (const name of plan.sinks.stop) await this.stopSink(name, { forget: true });
    await this.startMissing(next);
  }

  /** Starts every configured sink, then every source, that is not running. */
  async startMissing(config: Record<"sources" | "sinks", Configs>): Promise<void> {
    this.startMissingSinks(config.sinks);
    for (const [name, source] of Object.entries(config.sources)) {
      if (!this.sources.has(name)) await this.startSource(name, source);
    }
  }

  /** Starts every configured sink that is not running. */
  startMissingSinks(sinks: Configs): void {
    for (const [name, sink] of Object.entries(sinks)) {
      if (!this.deliveries.has(name)) this.startSink(name, sink);
    }
  }

  /** Says so when a source makes records (policy rows, files) that no sink takes. */
  warnUnforwarded(sources: Configs): void {
    for (const [name, config] of Object.entries(sources)) {
      const plugin = sourcePlugin(config.type);
      if (plugin?.simulated?.(config) && this.options.outbox.wants("sample")) {
        this.options.log.warn(simulatedWarning(name), { source: name });
      }
      const kinds = (plugin?.produces?.(config) ?? []) as EnvelopeKind[];
      for (const kind of kinds.filter((k) => !this.options.outbox.wants(k))) {
        this.options.log.warn(
          `no sink forwards "${kind}" records: what source ${name} makes of them is discarded`,
          { source: name, fix: `add a sink with "${kind}" in its forward list` },
        );
      }
    }
  }

  /** Stops every source. */
  async stopSources(): Promise<void> {
    await Promise.all([...this.sources.keys()].map((name) => this.stopSource(name)));
  }

  /** Stops every sink (undelivered records stay in the outbox). */
  async stopSinks(): Promise<void> {
    await Promise.all([...this.deliveries.keys()].map((name) => this.stopSink(name)));
  }

  /** The statuses of every source and sink. */
  statuses(): { sources: ComponentStatus[]; sinks: ComponentStatus[] } {
    return {
      sources: [...this.sources.values()].map((s) => s.status),
      sinks: [...this.deliveries.values()].map((d) => d.options.status),
    };
  }
}

/** What `run` and `check` say of a simulated source whose samples a sink sends upstream. */
export function simulatedWarning(source: string): string {
  return `source ${source} is simulated (made-up values) and sinks forward its samples upstream: ` +
    "for a real device set port: instead of simulate: (config/site.yml)";
}
