import type { GatewayConfig } from "./config/schema.ts";
import { ConfigError, loadConfigFile } from "./config/load.ts";
import { gatewaySchema } from "./config/schema.ts";
import { createApp, type GatewayView, type ReloadResult } from "./http/app.ts";
import { HttpServer } from "./http/server.ts";
import { configureLog, createLogger, type Logger } from "./log.ts";
import type { EnvelopeKind, Sample } from "./model.ts";
import { Delivery } from "./outbox/delivery.ts";
import { Outbox } from "./outbox/outbox.ts";
import type { DeadLetter } from "./outbox/dead_letters.ts";
import { Pipeline } from "./pipeline.ts";
import { Alerts } from "./rules/alerts.ts";
import { Thresholds } from "./rules/thresholds.ts";
import { SINK_PLUGINS } from "./sinks/registry.ts";
import type { DeliveryConfig } from "./sinks/sink.ts";
import type { Source } from "./sources/source.ts";
import { SOURCE_PLUGINS } from "./sources/registry.ts";
import { ComponentStatus, errorMessage } from "./status.ts";
import { createStore, levelsOf, storeFlushInterval } from "./store/mod.ts";
import type { Level, SeriesQuery, Store } from "./store/store.ts";
import { VERSION } from "./version.ts";
import { backoffDelay } from "./util/timing.ts";
import { type Clock, systemClock } from "./util/clock.ts";

interface RunningSource {
  source: Source;
  status: ComponentStatus;
  /** Start attempts that failed before this one. */
  attempt: number;
  /** The next start attempt, when this one failed. */
  retry?: ReturnType<typeof setTimeout>;
}

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
  readonly store: Store;
  readonly outbox: Outbox;
  readonly pipeline: Pipeline;
  readonly levels: Level[];
  readonly clock: Clock;
  /** Errors no component caught. */
  readonly process = new ComponentStatus("gateway", "process");
  readonly sources = new Map<string, RunningSource>();
  readonly deliveries = new Map<string, Delivery>();
  #server: HttpServer | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  #aggregating: Promise<unknown> | null = null;
  #startedAt: number;
  #stopping: Promise<void> | null = null;

  #config: GatewayConfig;
  #lastReload: (ReloadResult & { at: string }) | null = null;
  #alerts: Alerts;
  #summaryFrom: { at: number; stored: number; failed: number };
  /** POST /ingest as a source on /status (created on first use). */
  #ingest: ComponentStatus | null = null;

  get #ingestStatus(): ComponentStatus {
    return this.#ingest ??= new ComponentStatus("http_ingest", "http");
  }

  constructor(config: GatewayConfig, readonly options: AgentOptions = {}) {
    this.#config = config;
    this.gatewayId = config.gateway.id ?? hostname();
    this.levels = levelsOf(config.store);
    this.clock = options.clock ?? systemClock;
    this.store = createStore(config, { log: this.log.child("store") });
    this.outbox = new Outbox({
      path: `${config.gateway.data_dir}/outbox.db`,
      maxBytes: config.outbox.max_bytes,
      maxAgeMs: config.outbox.max_age,
      onFull: config.outbox.on_full,
      sync: config.outbox.sync,
      maxDeadLetterBytes: config.outbox.max_dead_letters,
      log: this.log.child("outbox"),
    });
    this.#startedAt = this.clock.now();
    this.#summaryFrom = { at: this.#startedAt, stored: 0, failed: 0 };
    this.pipeline = new Pipeline(this.store, this.outbox, this.log.child("pipeline"), {
      thresholds: new Thresholds(config.events.thresholds),
      clock: this.clock,
    });
    this.#alerts = new Alerts(config.events.alerts);
  }

  /** The configuration in force (changes on a successful reload). */
  get config(): GatewayConfig {
    return this.#config;
  }

  /** The address the HTTP server listens on, once started. */
  get address(): { hostname: string; port: number } | null {
    return this.#server?.address ?? null;
  }

  /** Opens the store and outbox, starts sinks, the HTTP server, then sources. */
  async start(): Promise<void> {
    const c = this.config;
    await Deno.mkdir(c.gateway.data_dir, { recursive: true });
    this.outbox.open();
    await this.store.open();
    for (const [name, sinkConfig] of Object.entries(c.sinks)) this.#startSink(name, sinkConfig);
    if (c.http.enabled) {
      const app = createApp(this, {
        token: c.http.token,
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
      this.log.info("http listening", {
        address: `http://${c.http.host}:${this.address?.port}/`,
      });
    }
    this.#timers.push(setInterval(() => this.#flushStore(), storeFlushInterval(c)));
    this.#timers.push(setInterval(() => this.aggregateNow(), c.store.aggregate_every));
    this.#timers.push(setInterval(() => this.outbox.compact(), 30_000));
    if (c.events.alerts.length > 0) {
      this.#timers.push(setInterval(() => this.checkAlerts(), c.events.check_every));
    }
    if (c.events.summary_every > 0) {
      this.#timers.push(setInterval(() => this.summarize(), c.events.summary_every));
    }
    for (const [name, sourceConfig] of Object.entries(c.sources)) {
      await this.#startSource(name, sourceConfig);
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

  #startSink(name: string, config: { type: string } & Record<string, unknown>): void {
    const plugin = SINK_PLUGINS.find((p) => p.type === config.type)!;
    const status = new ComponentStatus(name, config.type);
    const log = this.log.child(`sink.${name}`);
    const sink = plugin.create(config, {
      name,
      gatewayId: this.gatewayId,
      log,
      status,
      clock: this.clock,
    });
    const delivery = config as unknown as DeliveryConfig;
    this.outbox.register(name, {
      kinds: delivery.forward as EnvelopeKind[],
      nodes: delivery.nodes,
      status,
    });
    const d = new Delivery(name, { outbox: this.outbox, sink, config: delivery, status, log });
    d.start();
    this.deliveries.set(name, d);
  }

  async #startSource(
    name: string,
    config: { type: string } & Record<string, unknown>,
    options: { attempt?: number; status?: ComponentStatus } = {},
  ) {
    const attempt = options.attempt ?? 0;
    const plugin = SOURCE_PLUGINS.find((p) => p.type === config.type)!;
    const status = options.status ??
      new ComponentStatus(name, config.type, plugin.required ?? false);
    const log = this.log.child(`source.${name}`);
    const source = plugin.create(config, {
      name,
      gatewayId: this.gatewayId,
      log,
      status,
      emit: (samples, options) =>
        this.pipeline.emit(samples, {
          receipts: options?.receipts ? { source: name, entries: options.receipts } : undefined,
        }),
      receipt: (id) => this.outbox.receipt(name, id),
      append: (envelopes) => void this.outbox.append(envelopes),
      dataDir: this.config.gateway.data_dir,
      clock: this.clock,
      stamp: (node, at) => this.pipeline.stamps.next(node, at),
    });
    const running: RunningSource = { source, status, attempt };
    this.sources.set(name, running);
    try {
      await source.start();
    } catch (e) {
      // One failing source never takes the gateway down: it is started again, backing off.
      status.state = "down";
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
        void this.#startSource(name, config, { attempt: attempt + 1, status });
      }, wait);
    }
  }

  /** Storage policies make rows and files only some sinks take: say so when none does. */
  #warnUnforwarded(): void {
    const policed = Object.entries(this.config.sources).filter(([, s]) =>
      (s as { policies?: unknown }).policies !== undefined
    );
    if (policed.length === 0) return;
    for (const [kind, sink] of [["entry", "clickhouse"], ["file", "s3"]] as const) {
      if (this.outbox.wants(kind)) continue;
      this.log.warn(
        `no sink forwards "${kind}" records: what storage policies make of that kind is discarded`,
        { sources: policed.map(([n]) => n).join(","), fix: `add a ${sink} sink` },
      );
    }
  }

  async #flushStore(): Promise<void> {
    try {
      await this.store.flush();
    } catch (e) {
      this.log.warn("store flush failed", { error: errorMessage(e) });
    }
  }

  /** Aggregates every closed window now (also run on a timer). */
  aggregateNow(now: number = this.clock.now()): Promise<unknown> {
    this.#aggregating ??= (async () => {
      try {
        await this.store.flush();
        await this.pipeline.aggregate(this.levels, now);
      } catch (e) {
        this.store.status.fail(e);
        this.log.warn("window aggregation failed; will retry", { error: errorMessage(e) });
      } finally {
        this.#aggregating = null;
      }
    })();
    return this.#aggregating;
  }

  /** Stops sources first, then flushes the store, then stops deliveries and closes everything. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.log.info("stopping");
    await Promise.all(
      [...this.sources.values()].map(({ source, status, retry }) => {
        clearTimeout(retry);
        return source.stop().catch((e) => status.fail(e));
      }),
    );
    for (const t of this.#timers) clearInterval(t);
    await this.#aggregating;
    await this.#flushStore();
    await Promise.all([...this.deliveries.values()].map((d) => d.stop()));
    await this.#server?.stop();
    await this.store.close().catch((e) => this.log.warn("store close", { error: errorMessage(e) }));
    this.outbox.close();
    this.log.info("stopped");
  }

  #components(): ComponentStatus[] {
    return [
      this.store.status,
      this.outbox.status,
      ...[...this.sources.values()].map((s) => s.status),
      ...[...this.deliveries.values()].map((d) => d.options.status),
    ];
  }

  health(): { status: "ok" | "degraded" | "down"; components: Record<string, string> } {
    const components: Record<string, string> = {};
    let status: "ok" | "degraded" | "down" = "ok";
    for (const c of this.#components()) {
      const key = c.kind === c.name || c.name === "store" ? c.name : `${c.kind}.${c.name}`;
      components[key] = c.state;
      if (c.state === "down" && c.required) status = "down";
      else if ((c.state === "down" || c.state === "degraded") && status === "ok") {
        status = "degraded";
      }
    }
    return { status, components };
  }

  status(): Record<string, unknown> {
    const sinks: Record<string, unknown> = {};
    for (const [name, d] of this.deliveries) {
      sinks[name] = { ...d.options.status.toJSON(), queue: this.outbox.depth(name) };
    }
    return {
      status: this.health().status,
      version: VERSION,
      gateway_id: this.gatewayId,
      config_file: this.options.configFile ?? null,
      uptime_s: Math.round((this.clock.now() - this.#startedAt) / 1000),
      store: { ...this.store.status.toJSON(), levels: this.levels.map((l) => l.name) },
      outbox: {
        ...this.outbox.status.toJSON(),
        bytes: this.outbox.bytes,
        dead_letter_bytes: this.outbox.deadLetters.bytes,
        max_bytes: this.config.outbox.max_bytes,
      },
      sources: Object.fromEntries([
        ...[...this.sources].map(([name, s]) => [name, s.status.toJSON()]),
        ...(this.#ingest ? [["http_ingest", this.#ingest.toJSON()]] : []),
      ]),
      sinks,
      http: this.#server?.status.toJSON() ?? null,
      process: this.process.toJSON(),
      reload: this.#lastReload,
    };
  }

  /** Counts an error nothing else caught (the process carries on; main.ts reports them here). */
  uncaught(error: unknown): void {
    this.process.fail(error);
    this.process.count("uncaught_errors");
    this.log.error("unexpected error; the gateway carries on", { error: errorMessage(error) });
  }

  async ingest(samples: Sample[], options: { clamped?: number } = {}): Promise<void> {
    const status = this.#ingestStatus;
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
    this.#ingestStatus.drop(reason);
  }

  query(q: SeriesQuery): Promise<unknown[]> {
    return this.store.query(q);
  }

  /** Raises alert events for alert rules whose figure is over its limit (also on a timer). */
  checkAlerts(now: number = this.clock.now()): void {
    this.pipeline.raise(this.#alerts.evaluate(this.status(), now));
  }

  /** Raises a "data_saved" summary of the period since the last one (also on a timer). */
  summarize(now: number = this.clock.now()): void {
    const s = this.store.status;
    const from = this.#summaryFrom;
    this.#summaryFrom = { at: now, stored: s.processed, failed: s.failed };
    const id = crypto.randomUUID();
    this.pipeline.raise([{
      id,
      type: "data_saved",
      ts: now,
      data: {
        event_id: id,
        period_start: new Date(from.at).toISOString(),
        period_end: new Date(now).toISOString(),
        records: s.processed - from.stored,
        errors: s.failed - from.failed,
        location: this.config.store.type === "redis"
          ? "redis"
          : `${this.config.gateway.data_dir}/store.db`,
        outbox_bytes: this.outbox.bytes,
      },
    }]);
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
   * restarted, removed ones stopped, new ones started; buffered records stay in
   * the outbox and each sink resumes from its cursor, so nothing is lost.
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
    const prev = this.#config;
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    const changed: string[] = [];
    for (const [name, old] of Object.entries(prev.sources)) {
      if (same(old, next.sources[name])) continue;
      const running = this.sources.get(name);
      if (next.sources[name] && running?.source.update?.(next.sources[name])) {
        changed.push(`source.${name}`);
        continue;
      }
      clearTimeout(running?.retry);
      await running?.source.stop().catch((e) => running.status.fail(e));
      this.sources.delete(name);
      changed.push(`source.${name}`);
    }
    for (const [name, old] of Object.entries(prev.sinks)) {
      if (same(old, next.sinks[name])) continue;
      await this.deliveries.get(name)?.stop();
      this.deliveries.delete(name);
      if (!(name in next.sinks)) this.outbox.unregister(name);
      changed.push(`sink.${name}`);
    }
    this.#config = next;
    for (const [name, config] of Object.entries(next.sinks)) {
      if (!this.deliveries.has(name)) this.#startSink(name, config);
    }
    for (const [name, config] of Object.entries(next.sources)) {
      if (!this.sources.has(name)) await this.#startSource(name, config);
    }
    if (!same(prev.log, next.log)) configureLog(next.log);
    const restart = (["gateway", "http", "store", "outbox", "events"] as const).filter((k) =>
      !same(prev[k], next[k])
    );
    const result = {
      ok: true,
      changed: [
        ...new Set(changed.concat(
          Object.keys(next.sources).filter((n) => !(n in prev.sources)).map((n) => `source.${n}`),
          Object.keys(next.sinks).filter((n) => !(n in prev.sinks)).map((n) => `sink.${n}`),
        )),
      ],
      restart_required: restart,
    };
    this.log.info("config reloaded", { file, changed: result.changed, restart_required: restart });
    return this.#reloaded(result);
  }

  #reloaded(result: ReloadResult): ReloadResult {
    this.#lastReload = { ...result, at: new Date().toISOString() };
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
