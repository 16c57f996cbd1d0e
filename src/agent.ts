/**
 * The gateway's wiring: builds the store, outbox, pipeline, component host,
 * controls, jobs and HTTP server from a config, and starts and stops them in
 * order. It decides nothing about particular plugins.
 */
import type { GatewayConfig } from "./config/schema.ts";
import { Control } from "./control.ts";
import { DataDirLock } from "./data_dir_lock.ts";
import { ComponentHost } from "./host.ts";
import { serveApi } from "./http/mod.ts";
import type { HttpServer } from "./http/server.ts";
import { scheduleJobs } from "./jobs.ts";
import { createLogger, type Logger } from "./log.ts";
import { Outbox } from "./outbox/outbox.ts";
import { Pipeline } from "./pipeline.ts";
import { Thresholds } from "./rules/thresholds.ts";
import { Scheduler } from "./scheduler.ts";
import { useSecrets } from "./secrets.ts";
import { errorMessage } from "./status.ts";
import { createStore, levelsOf } from "./store/mod.ts";
import type { Level, Store } from "./store/store.ts";
import { type Clock, systemClock } from "./util/clock.ts";
import { CATCH_UP_RATE, type ClockStep, WallClock } from "./util/wall_clock.ts";
import { systemZone } from "./util/zone.ts";
import { GroupCommit, type GroupFile } from "./util/group_commit.ts";
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

/** Builds the gateway from a config, starts it, and stops it in order. */
export class Agent {
  readonly log: Logger = createLogger("agent");
  readonly gatewayId: string;
  /** The site's time zone: gateway.timezone, else the system's. */
  readonly timeZone: string;
  /** The gateway's time: the wall clock, watched for steps. */
  readonly clock: WallClock;
  readonly store: Store;
  readonly outbox: Outbox;
  readonly pipeline: Pipeline;
  readonly levels: Level[];
  readonly host: ComponentHost;
  /** What the HTTP API and operators act on: status, ingest, reload, dead letters. */
  readonly control: Control;
  /** One commit per `gateway.commit_interval` for the outbox and the store (null: 0, each). */
  readonly commits: GroupCommit | null;
  #scheduler: Scheduler;
  #server: HttpServer | null = null;
  #lock: DataDirLock | null = null;
  #stopping: Promise<void> | null = null;

  constructor(config: GatewayConfig, readonly options: AgentOptions = {}) {
    useSecrets(config);
    this.clock = new WallClock(options.clock ?? systemClock, {
      onStep: (step) => this.#stepped(step),
    });
    this.gatewayId = config.gateway.id ?? hostname();
    this.timeZone = config.gateway.timezone ?? systemZone();
    this.levels = levelsOf(config.store);
    this.store = createStore(config, { log: this.log.child("store"), clock: this.clock });
    this.outbox = new Outbox({
      path: `${config.gateway.data_dir}/outbox.db`,
      maxBytes: config.outbox.max_bytes,
      maxAgeMs: config.outbox.max_age,
      onFull: config.outbox.on_full,
      sync: config.outbox.sync,
      maxDeadLetterBytes: config.outbox.max_dead_letters,
      log: this.log.child("outbox"),
      clock: this.clock,
      grouped: config.gateway.commit_interval > 0,
      // No -shm file (its mmap'd pages are written back after commits), unless a sink in a
      // Worker reads the file too; 2 KiB pages: what a commit rewrites every time (the last
      // leaf, the tree's inner page, the cursor) costs half (docs/architecture.md).
      exclusive: !config.gateway.delivery_workers,
      pageSize: 2048,
    });
    this.commits = this.#groupCommit(config.gateway.commit_interval);
    this.pipeline = new Pipeline(this.store, this.outbox, this.log.child("pipeline"), {
      thresholds: new Thresholds(config.events.thresholds),
      clock: this.clock,
      commits: this.commits ?? undefined,
    });
    const { gatewayId, clock, log, outbox, pipeline, store, levels } = this;
    this.host = new ComponentHost({
      outbox,
      pipeline,
      gatewayId,
      dataDir: config.gateway.data_dir,
      clock,
      log,
      workers: config.gateway.delivery_workers,
      timeZone: this.timeZone,
    });
    this.control = new Control(config, {
      store,
      outbox,
      pipeline,
      host: this.host,
      levels,
      gatewayId,
      clock,
      log,
      timeZone: this.timeZone,
      configFile: options.configFile,
      http: () => this.#server?.status ?? null,
    });
    this.#scheduler = new Scheduler(this.log);
  }

  /** The outbox, then the store (its windows leave its pending list in the same group). */
  #groupCommit(intervalMs: number): GroupCommit | null {
    if (intervalMs <= 0) return null;
    const files: GroupFile[] = [this.outbox.group];
    if (this.store.group) files.push(this.store.group);
    const commits = new GroupCommit(files, {
      intervalMs,
      onError: (e) => this.log.error("commit failed", { error: errorMessage(e) }),
      beforeInterval: (withinMs) => this.host.flush(withinMs, { intervalMs }),
    });
    // The loss window and what the commits cost, in /status (and so /metrics).
    Object.defineProperty(this.outbox.status.info, "commits", {
      enumerable: true,
      get: () => commits.report(),
    });
    return commits;
  }

  /** The configuration in force (changes on a successful reload). */
  get config(): GatewayConfig {
    return this.control.config;
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

  /**
   * Takes the data dir (throws DataDirInUseError when another gateway holds it, before any
   * other file there is touched), opens the store and outbox, starts sinks, the HTTP server,
   * the jobs, then sources.
   */
  async start(): Promise<void> {
    const c = this.config;
    await Deno.mkdir(c.gateway.data_dir, { recursive: true });
    this.#lock = await DataDirLock.acquire(c.gateway.data_dir);
    this.clock.start();
    this.outbox.open();
    await this.store.open();
    this.commits?.start();
    this.host.startMissingSinks(c.sinks);
    if (c.http.enabled) {
      this.#server = serveApi(this.control, c.http, {
        socketDir: c.gateway.data_dir,
        log: this.log.child("http"),
      });
    }
    scheduleJobs(this.#scheduler, c, {
      store: this.store,
      outbox: this.outbox,
      pipeline: this.pipeline,
      control: this.control,
      aggregate: () => this.aggregateNow(),
    });
    for (const [name, source] of Object.entries(c.sources)) {
      await this.host.startSource(name, source);
    }
    this.host.warnUnforwarded(c.sources);
    this.log.info("gateway started", {
      id: this.gatewayId,
      version: VERSION,
      sources: this.sources.size,
      sinks: this.deliveries.size,
      store: c.store.type,
    });
  }

  /** Says that the wall clock stepped, and what the gateway does about it. */
  #stepped(step: ClockStep): void {
    const back = step.byMs < 0;
    this.log.warn(back ? "the clock stepped back" : "the clock stepped forward", {
      by_ms: Math.round(step.byMs),
      at: new Date(step.at).toISOString(),
      synchronized_before: step.wasSynchronized,
      stamps: step.catchUpMs > 0
        ? `run at ${(1 - CATCH_UP_RATE) * 100}% speed for ` +
          `${Math.round(step.catchUpMs / CATCH_UP_RATE / 1000)} s ` +
          "until the wall clock catches up (never back, never repeated)"
        : back
        ? "follow the wall clock back: too far to catch up, the time before was wrong"
        : "follow the wall clock",
    });
  }

  /**
   * Aggregates every closed window now (also a scheduled job). Windows close by the settled
   * time: late data keeps its grace when the clock has just stepped forward.
   */
  async aggregateNow(now: number = this.clock.settledNow(this.config.store.grace)): Promise<void> {
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
      // A reload in progress finishes first: it could otherwise start a source after this stop.
      await this.control.endReloads();
      await this.host.stopSources();
      await this.#scheduler.stop();
      await this.store.flush().catch((e) =>
        this.log.warn("store flush failed", { error: errorMessage(e) })
      );
      await this.host.stopSinks();
      await this.#server?.stop();
      try {
        this.commits?.stop(); // the outbox's commit before the store's
      } catch { /* logged and counted by the outbox */ }
      await this.store.close().catch((e) =>
        this.log.warn("store close", { error: errorMessage(e) })
      );
      this.outbox.close();
      this.clock.stop();
      this.#lock?.release();
      this.log.info("stopped");
    })();
    return this.#stopping;
  }
}
