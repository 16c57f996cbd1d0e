/**
 * The gateway's wiring: builds the store, outbox, pipeline, component host,
 * scheduler and HTTP server from a config, starts and stops them in order, and
 * applies reloads planned by {@link planReload}. It decides nothing about
 * particular plugins.
 */
import { ConfigError, loadConfigFile } from "./config/load.ts";
import { changedComponents, planReload } from "./config/plan.ts";
import { type GatewayConfig, gatewaySchema } from "./config/schema.ts";
import { ComponentHost } from "./host.ts";
import { createApp, type GatewayView, type ReloadResult } from "./http/app.ts";
import { HttpServer } from "./http/server.ts";
import { configureLog, createLogger, type Logger } from "./log.ts";
import type { EnvelopeKind, Sample } from "./model.ts";
import type { DeadLetter } from "./outbox/dead_letters.ts";
import { Outbox } from "./outbox/outbox.ts";
import { Pipeline } from "./pipeline.ts";
import { Alerts } from "./rules/alerts.ts";
import { Summary } from "./rules/summary.ts";
import { Thresholds } from "./rules/thresholds.ts";
import { Scheduler } from "./scheduler.ts";
import { useSecrets } from "./secrets.ts";
import { SOURCE_PLUGINS } from "./sources/registry.ts";
import { ComponentStatus, errorMessage } from "./status.ts";
import { type Health, healthOf, type StatusJson, statusReport } from "./status_report.ts";
import { createStore, levelsOf, storeFlushInterval } from "./store/mod.ts";
import type { Level, SeriesQuery, Store } from "./store/store.ts";
import { type Clock, systemClock } from "./util/clock.ts";
import { VERSION } from "./version.ts";

/** Options of {@link Agent}. */
export interface AgentOptions {
  configFile?: string;
  /** The time for sources, rules and windows (default: the system clock). */
  clock?: Clock;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "gateway";
  }
}

/** Builds the pipeline from a config, starts it, and stops it in order. */
export class Agent implements GatewayView {
  readonly log: Logger = createLogger("agent");
  readonly gatewayId: string;
  readonly clock: Clock;
  readonly store: Store;
  readonly outbox: Outbox;
  readonly pipeline: Pipeline;
  readonly levels: Level[];
  readonly host: ComponentHost;
  /** Errors no component caught. */
  readonly process = new ComponentStatus("gateway", "process");
  /** POST /ingest, shown as a source. */
  readonly ingestStatus = new ComponentStatus("http_ingest", "http");
  #config: GatewayConfig;
  #scheduler: Scheduler;
  #server: HttpServer | null = null;
  #startedAt: number;
  #stopping: Promise<void> | null = null;
  #lastReload: (ReloadResult & { at: string }) | null = null;
  #alerts: Alerts;
  #summary: Summary;

  constructor(config: GatewayConfig, readonly options: AgentOptions = {}) {
    this.#config = config;
    useSecrets(config);
    this.clock = options.clock ?? systemClock;
    this.gatewayId = config.gateway.id ?? hostname();
    this.levels = levelsOf(config.store);
    this.store = createStore(config, { log: this.log.child("store") });
    this.outbox = new Outbox({
      path: `${config.gateway.data_dir}/outbox.db`,
      maxBytes: config.outbox.max_bytes,
      maxAgeMs: config.outbox.max_age,
      onFull: config.outbox.on_full,
      sync: config.outbox.sync,
      maxDeadLetterBytes: config.outbox.max_dead_letters,
      log: this.log.child("outbox"),
      clock: this.clock,
    });
    this.pipeline = new Pipeline(this.store, this.outbox, this.log.child("pipeline"), {
      thresholds: new Thresholds(config.events.thresholds),
      clock: this.clock,
    });
    this.host = new ComponentHost({
      outbox: this.outbox,
      pipeline: this.pipeline,
      gatewayId: this.gatewayId,
      dataDir: config.gateway.data_dir,
      clock: this.clock,
      log: this.log,
    });
    this.#scheduler = new Scheduler(this.log);
    this.#startedAt = this.clock.now();
    this.#alerts = new Alerts(config.events.alerts);
    this.#summary = new Summary(this.#startedAt);
  }

  /** The configuration in force (changes on a successful reload). */
  get config(): GatewayConfig {
    return this.#config;
  }

  /** The running sources, by name. */
  get sources(): ComponentHost["sources"] {
    return this.host.sources;
  }

  /** The running sinks' deliveries, by name. */
  get deliveries(): ComponentHost["deliveries"] {
    return this.host.deliveries;
  }

  /** The address the HTTP server listens on, once started. */
  get address(): { hostname: string; port: number } | null {
    return this.#server?.address ?? null;
  }

  /** Opens the store and outbox, starts sinks, the HTTP server, the jobs, then sources. */
  async start(): Promise<void> {
    const c = this.config;
    await Deno.mkdir(c.gateway.data_dir, { recursive: true });
    this.outbox.open();
    await this.store.open();
    for (const [name, sink] of Object.entries(c.sinks)) this.host.startSink(name, sink);
    if (c.http.enabled) this.#startHttp();
    const jobs = this.#scheduler;
    jobs.every("store flush", storeFlushInterval(c), () => this.store.flush());
    jobs.every("window aggregation", c.store.aggregate_every, () => this.aggregateNow());
    jobs.every("outbox compaction", 30_000, () => this.outbox.compact());
    if (c.events.alerts.length > 0) {
      jobs.every("alert rules", c.events.check_every, () => this.checkAlerts());
    }
    if (c.events.summary_every > 0) {
      jobs.every("summary", c.events.summary_every, () => this.summarize());
    }
    for (const [name, source] of Object.entries(c.sources)) {
      await this.host.startSource(name, source);
    }
    this.#warnUnforwarded();
    this.log.info("gateway started", {
      id: this.gatewayId,
      version: VERSION,
      sources: this.sources.size,
      sinks: this.deliveries.size,
      store: c.store.type,
    });
  }

  #startHttp(): void {
    const c = this.config;
    const app = createApp(this, {
      token: c.http.token,
      readToken: c.http.read_token,
      maxBody: c.http.max_body,
      ranges: c.http.ranges as Record<string, [number, number]>,
      maxFuture: c.http.max_future,
    });
    this.#server = new HttpServer(app.fetch, {
      hostname: c.http.host,
      port: c.http.port,
      socketDir: c.gateway.data_dir,
      maxConnections: c.http.max_connections,
      idleTimeout: c.http.idle_timeout,
      headerTimeout: c.http.header_timeout,
      log: this.log.child("http"),
    });
    this.#server.start();
    // The first thing a new user looks for in the start-up log.
    this.log.info(`status page: http://${c.http.host}:${this.address?.port}/`);
  }

  /** Says so when a source makes records (policy rows, files) that no sink takes. */
  #warnUnforwarded(): void {
    for (const [name, config] of Object.entries(this.config.sources)) {
      const plugin = SOURCE_PLUGINS.find((p) => p.type === config.type);
      const kinds = (plugin?.produces?.(config) ?? []) as EnvelopeKind[];
      for (const kind of kinds.filter((k) => !this.outbox.wants(k))) {
        this.log.warn(
          `no sink forwards "${kind}" records: what source ${name} makes of them is discarded`,
          {
            source: name,
            fix: `add a sink with "${kind}" in its forward list`,
          },
        );
      }
    }
  }

  /** Aggregates every closed window now (also a scheduled job). */
  async aggregateNow(now: number = this.clock.now()): Promise<void> {
    try {
      await this.store.flush();
      await this.pipeline.aggregate(this.levels, now);
    } catch (e) {
      this.store.status.fail(e);
      this.log.warn("window aggregation failed; will retry", { error: errorMessage(e) });
    }
  }

  /** Stops sources first, then the jobs and the store, then deliveries, and closes the files. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.log.info("stopping");
      await this.host.stopSources();
      await this.#scheduler.stop();
      await this.store.flush().catch((e) =>
        this.log.warn("store flush failed", { error: errorMessage(e) })
      );
      await this.host.stopSinks();
      await this.#server?.stop();
      await this.store.close().catch((e) =>
        this.log.warn("store close", { error: errorMessage(e) })
      );
      this.outbox.close();
      this.log.info("stopped");
    })();
    return this.#stopping;
  }

  health(): Health {
    const { sources, sinks } = this.host.statuses();
    return healthOf({
      core: [this.store.status, this.outbox.status],
      plugins: [...sources, ...sinks],
    });
  }

  readings(): { sample: Sample; kind: string }[] {
    return this.pipeline.latest.all(this.config.http.metrics_max_nodes).map((sample) => ({
      sample,
      // POST /ingest is no configured source: `http` is its kind.
      kind: this.host.sources.get(sample.source)?.status.kind ?? sample.source,
    }));
  }

  status(): StatusJson {
    const { sources } = this.host.statuses();
    return statusReport({
      health: this.health(),
      version: VERSION,
      gatewayId: this.gatewayId,
      configFile: this.options.configFile ?? null,
      uptimeS: Math.round((this.clock.now() - this.#startedAt) / 1000),
      store: this.store.status,
      levels: this.levels.map((l) => l.name),
      outbox: {
        status: this.outbox.status,
        bytes: this.outbox.bytes,
        deadLetterBytes: this.outbox.deadLetters.bytes,
        maxBytes: this.config.outbox.max_bytes,
      },
      sources: this.ingestStatus.processed + this.ingestStatus.failed > 0 ||
          Object.keys(this.ingestStatus.dropped).length > 0
        ? [...sources, this.ingestStatus]
        : sources,
      sinks: [...this.deliveries].map(([name, d]) => ({
        status: d.options.status,
        queue: this.outbox.depth(name),
      })),
      http: this.#server?.status ?? null,
      process: this.process,
      reload: this.#lastReload,
    });
  }

  /** Counts an error nothing else caught (the process carries on; main.ts reports them here). */
  uncaught(error: unknown): void {
    this.process.fail(error);
    this.process.count("uncaught_errors");
    this.log.error("unexpected error; the gateway carries on", { error: errorMessage(error) });
  }

  async ingest(samples: Sample[], options: { clamped?: number } = {}): Promise<void> {
    const status = this.ingestStatus;
    try {
      await this.pipeline.emit(samples);
    } catch (e) {
      status.fail(e, samples.length);
      throw e;
    }
    status.ok(samples.length);
    status.state = "up";
    if (options.clamped) status.count("clamped", options.clamped);
  }

  stamp(node: string): number {
    return this.pipeline.stamps.next(node);
  }

  ingestRejected(reason: string): void {
    this.ingestStatus.drop(reason);
  }

  query(q: SeriesQuery): Promise<unknown[]> {
    return this.store.query(q);
  }

  /** Raises alert events for alert rules whose figure is over its limit (also a job). */
  checkAlerts(now: number = this.clock.now()): void {
    this.pipeline.raise(this.#alerts.evaluate(this.status(), now));
  }

  /** Raises a "data_saved" summary of the period since the last one, if it stored any (a job). */
  summarize(now: number = this.clock.now()): void {
    const c = this.config;
    const event = this.#summary.next(now, {
      stored: this.store.status.processed,
      failed: this.store.status.failed,
      location: c.store.type === "redis" ? "redis" : `${c.gateway.data_dir}/store.db`,
      outboxBytes: this.outbox.bytes,
    });
    // As DataLake: "data saved" only when the period saved data, never an empty one.
    if (Number(event.data.records) > 0 || Number(event.data.errors) > 0) {
      this.pipeline.raise([event]);
    }
  }

  setSinkPaused(name: string, paused: boolean): boolean {
    const d = this.deliveries.get(name);
    if (!d) return false;
    d.setPaused(paused);
    this.log.info(paused ? "sink paused" : "sink resumed", { sink: name });
    return true;
  }

  deadLetters(options: { sink?: string; limit: number; data: boolean }): DeadLetter[] {
    return this.outbox.deadLetters.list(options);
  }

  async replayDeadLetters(
    sink: string,
  ): Promise<{ replayed: number; refused: number; error?: string } | null> {
    const d = this.deliveries.get(sink);
    if (!d) return null;
    const result = await d.replayDeadLetters();
    this.log.info("dead letters replayed", { sink, ...result });
    return result;
  }

  purgeDeadLetters(sink?: string): number {
    const n = this.outbox.deadLetters.purge(sink);
    this.log.info("dead letters purged", { sink: sink ?? "(all)", records: n });
    return n;
  }

  /**
   * Re-reads the config file. An invalid file changes nothing (errors go to the
   * log and /status). Otherwise sources and sinks whose config changed are
   * updated in place or restarted, removed ones stopped, new ones started;
   * buffered records stay in the outbox and each sink resumes from its cursor.
   */
  async reload(): Promise<ReloadResult> {
    const file = this.options.configFile;
    let next: GatewayConfig;
    try {
      if (!file) throw new ConfigError("(none)", ["the gateway was started without a config file"]);
      next = await loadConfigFile(file, gatewaySchema);
    } catch (e) {
      const errors = e instanceof ConfigError ? e.problems : [errorMessage(e)];
      this.log.error("reload rejected: the running config stays in force", { file, errors });
      return this.#reloaded({ ok: false, errors });
    }
    const plan = planReload(this.#config, next);
    useSecrets(next);
    const host = this.host;
    for (const name of plan.sources.change) {
      if (!host.updateSource(name, next.sources[name])) await host.stopSource(name);
    }
    for (const name of plan.sources.stop) await host.stopSource(name);
    for (const name of plan.sinks.change) await host.stopSink(name);
    for (const name of plan.sinks.stop) await host.stopSink(name, { forget: true });
    this.#config = next;
    for (const [name, config] of Object.entries(next.sinks)) {
      if (!this.deliveries.has(name)) host.startSink(name, config);
    }
    for (const [name, config] of Object.entries(next.sources)) {
      if (!this.sources.has(name)) await host.startSource(name, config);
    }
    if (plan.log) configureLog(next.log);
    const result = {
      ok: true,
      changed: changedComponents(plan),
      restart_required: plan.restartRequired,
    };
    this.log.info("config reloaded", { file, ...result });
    return this.#reloaded(result);
  }

  #reloaded(result: ReloadResult): ReloadResult {
    this.#lastReload = { ...result, at: new Date(this.clock.now()).toISOString() };
    return result;
  }

  /** Forces an immediate delivery attempt on every sink. */
  async sync(): Promise<Record<string, { sent: number; error?: string }>> {
    await this.store.flush();
    await this.pipeline.forwardWindows();
    const entries = await Promise.all(
      [...this.deliveries].map(async ([name, d]) => [name, await d.sync()] as const),
    );
    return Object.fromEntries(entries);
  }
}
