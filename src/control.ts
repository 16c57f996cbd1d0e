/**
 * What the HTTP API and the operator see of a running gateway: its status and
 * health, /ingest, queries, sink pauses, dead letters, a forced sync and a
 * config reload. It holds the config in force; the {@link Agent} wires it.
 */
import { ConfigError, loadConfigFile } from "./config/load.ts";
import { changedComponents, planReload } from "./config/plan.ts";
import { type GatewayConfig, gatewaySchema } from "./config/schema.ts";
import type { SettingsAccess } from "./device_settings.ts";
import type { ComponentHost } from "./host.ts";
import type { GatewayView, ReloadResult } from "./http/view.ts";
import { configureLog, type Logger } from "./log.ts";
import type { Sample } from "./model.ts";
import type { DeadLetter } from "./outbox/dead_letters.ts";
import type { Outbox } from "./outbox/outbox.ts";
import type { Pipeline } from "./pipeline.ts";
import { useSecrets } from "./secrets.ts";
import { ComponentStatus, errorMessage } from "./status.ts";
import { type Health, healthOf, type StatusJson, statusReport } from "./status_report.ts";
import type { Level, SeriesQuery, Store } from "./store/store.ts";
import type { Clock } from "./util/clock.ts";
import { OneAtATime } from "./util/one_at_a_time.ts";
import { WallClock } from "./util/wall_clock.ts";
import { VERSION } from "./version.ts";

/** The running parts the controls act on. */
export interface ControlParts {
  store: Store;
  outbox: Outbox;
  pipeline: Pipeline;
  host: ComponentHost;
  levels: Level[];
  gatewayId: string;
  clock: Clock;
  log: Logger;
  /** The site's time zone (IANA). */
  timeZone: string;
  /** The file reloads read (none: reloads are refused). */
  configFile?: string;
  /** The HTTP front's status, once it listens. */
  http: () => ComponentStatus | null;
}

/** The gateway as its HTTP API and operators act on it. */
export class Control implements GatewayView {
  /** Errors no component caught. */
  readonly process = new ComponentStatus("gateway", "process");
  /** POST /ingest, shown as a source once used. */
  readonly ingestStatus = new ComponentStatus("http_ingest", "http");
  readonly clock: Clock;
  readonly timeZone: string;
  readonly startedAt: number;
  /** Uptime runs on the monotonic clock: NTP's step at boot adds no days to it. */
  readonly #startedMono: number;
  #config: GatewayConfig;
  #lastReload: StatusJson["reload"] = null;
  /** Reloads run one at a time; those asked for meanwhile make one more after it (a SIGHUP storm). */
  readonly #reloads = new OneAtATime<ReloadResult>(
    () => this.#reload(),
    () => ({ ok: false, errors: ["the gateway is stopping: reload refused"] }),
  );

  constructor(config: GatewayConfig, readonly parts: ControlParts) {
    this.#config = config;
    this.clock = parts.clock;
    this.timeZone = parts.timeZone;
    this.startedAt = parts.clock.now();
    this.#startedMono = this.#monotonic();
    // Read when /status is: resident memory and the JavaScript heap, in MiB.
    Object.defineProperty(this.process.info, "memory", {
      enumerable: true,
      get: () => {
        const m = Deno.memoryUsage();
        const mib = (n: number) => Math.round(n / 1048576 * 10) / 10;
        return {
          rss_mib: mib(m.rss),
          heap_used_mib: mib(m.heapUsed),
          heap_total_mib: mib(m.heapTotal),
          external_mib: mib(m.external),
        };
      },
    });
  }

  /** The devices' settings (VE.Direct HEX); changes are audited. */
  get settings(): SettingsAccess {
    return this.parts.host.settings;
  }

  /** The configuration in force (changes on a successful reload). */
  get config(): GatewayConfig {
    return this.#config;
  }

  /** /health: the overall state and each component's. */
  health(): Health {
    const { store, outbox, host } = this.parts;
    const { sources, sinks } = host.statuses();
    return healthOf({ core: [store.status, outbox.status], plugins: [...sources, ...sinks] });
  }

  /** The /status document. */
  status(): StatusJson {
    const { store, outbox, host, levels } = this.parts;
    const ingest = this.ingestStatus;
    const { sources } = host.statuses();
    const ingestUsed = ingest.processed + ingest.failed > 0 ||
      Object.keys(ingest.dropped).length > 0;
    return statusReport({
      health: this.health(),
      version: VERSION,
      gatewayId: this.parts.gatewayId,
      configFile: this.parts.configFile ?? null,
      uptimeS: Math.round((this.#monotonic() - this.#startedMono) / 1000),
      store: store.status,
      levels: levels.map((l) => l.name),
      outbox: {
        status: outbox.status,
        bytes: outbox.bytes,
        deadLetterBytes: outbox.deadLetters.bytes,
        maxBytes: this.config.outbox.max_bytes,
      },
      sources: ingestUsed ? [...sources, ingest] : sources,
      sinks: [...host.deliveries].map(([name, d]) => ({
        status: d.options.status,
        queue: outbox.depth(name),
      })),
      http: this.parts.http(),
      process: this.process,
      reload: this.#lastReload,
      clock: this.clock instanceof WallClock ? this.clock.toJSON() : null,
    });
  }

  #monotonic(): number {
    return this.clock.monotonic?.() ?? performance.now();
  }

  /** Each node's latest sample with its source's kind (for /metrics). */
  readings(): { sample: Sample; kind: string }[] {
    const { pipeline, host } = this.parts;
    return pipeline.latest.all(this.config.http.metrics_max_nodes).map((sample) => ({
      sample,
      // POST /ingest is no configured source: `http` is its kind.
      kind: host.sources.get(sample.source)?.status.kind ?? sample.source,
    }));
  }

  /** Counts an error nothing else caught (the process carries on; main.ts reports them here). */
  uncaught(error: unknown): void {
    this.process.fail(error);
    this.process.count("uncaught_errors");
    this.parts.log.error("unexpected error; the gateway carries on", {
      error: errorMessage(error),
    });
  }

  /** Hands /ingest samples to the pipeline; resolves once they are durably accepted. */
  async ingest(samples: Sample[], options: { clamped?: number } = {}): Promise<void> {
    const status = this.ingestStatus;
    try {
      // 200 means stored: the answer waits for the commit that holds the samples.
      await this.parts.pipeline.emit(samples, { wait: true });
    } catch (e) {
      status.fail(e, samples.length);
      throw e;
    }
    status.ok(samples.length);
    status.state = "up";
    if (options.clamped) status.count("clamped", options.clamped);
  }

  /** An arrival stamp for a sample of `node`, unique within its series. */
  stamp(node: string): number {
    return this.parts.pipeline.stamps.next(node);
  }

  /** Counts a refused /ingest body by reason. */
  ingestRejected(reason: string): void {
    this.ingestStatus.drop(reason);
  }

  /** Reads stored samples or windows. */
  query(q: SeriesQuery): Promise<unknown[]> {
    return this.parts.store.query(q);
  }

  /** The nodes the store holds or the gateway has heard since it started, sorted. */
  async nodes(): Promise<string[]> {
    const heard = this.parts.pipeline.latest.all().map((s) => s.node);
    return [...new Set([...await this.parts.store.nodes(), ...heard])].sort();
  }

  /** Pauses or resumes a sink; false when there is no such sink. */
  setSinkPaused(name: string, paused: boolean): boolean {
    const d = this.parts.host.deliveries.get(name);
    if (!d) return false;
    d.setPaused(paused);
    this.parts.log.info(paused ? "sink paused" : "sink resumed", { sink: name });
    return true;
  }

  /** Records upstreams refused, newest first. */
  deadLetters(options: { sink?: string; limit: number; data: boolean }): DeadLetter[] {
    return this.parts.outbox.deadLetters.list(options);
  }

  /** Delivers a sink's dead letters again; null when there is no such sink. */
  async replayDeadLetters(
    sink: string,
  ): Promise<{ replayed: number; refused: number; error?: string } | null> {
    const d = this.parts.host.deliveries.get(sink);
    if (!d) return null;
    const result = await d.replayDeadLetters();
    this.parts.log.info("dead letters replayed", { sink, ...result });
    return result;
  }

  /** Deletes dead letters (of one sink, or all); returns how many. */
  purgeDeadLetters(sink?: string): number {
    const n = this.parts.outbox.deadLetters.purge(sink);
    this.parts.log.info("dead letters purged", { sink: sink ?? "(all)", records: n });
    return n;
  }

  /** Forces an immediate delivery attempt on every sink. */
  async sync(): Promise<Record<string, { sent: number; error?: string }>> {
    const { store, pipeline, host } = this.parts;
    await store.flush();
    await pipeline.forwardWindows();
    const entries = await Promise.all(
      [...host.deliveries].map(async ([name, d]) => [name, await d.sync()] as const),
    );
    return Object.fromEntries(entries);
  }

  /**
   * Re-reads the config file. An invalid file changes nothing (errors go to the
   * log and /status). Otherwise the host applies the plan: buffered records stay
   * in the outbox and each sink resumes from its cursor. One reload runs at a time: a
   * request while one runs is answered by one more run after it, shared by every request
   * made until it starts (so it reads the file as it is then).
   */
  reload(): Promise<ReloadResult> {
    return this.#reloads.run();
  }

  /** Refuses further reloads and waits for the one running (before the gateway stops). */
  endReloads(): Promise<void> {
    return this.#reloads.close();
  }

  async #reload(): Promise<ReloadResult> {
    const { configFile: file, log } = this.parts;
    let next: GatewayConfig;
    try {
      if (!file) throw new ConfigError("(none)", ["the gateway was started without a config file"]);
      next = await loadConfigFile(file, gatewaySchema);
    } catch (e) {
      const errors = e instanceof ConfigError ? e.problems : [errorMessage(e)];
      log.error("reload rejected: the running config stays in force", { file, errors });
      return this.#reloaded({ ok: false, errors });
    }
    const plan = planReload(this.#config, next);
    useSecrets(next);
    await this.parts.host.apply(plan, next);
    this.#config = next;
    if (plan.log) configureLog(next.log);
    const result = {
      ok: true,
      changed: changedComponents(plan),
      restart_required: plan.restartRequired,
    };
    log.info("config reloaded", { file, ...result });
    return this.#reloaded(result);
  }

  #reloaded(result: ReloadResult): ReloadResult {
    const { runs, coalesced } = this.#reloads.counts;
    this.#lastReload = {
      ...result,
      at: new Date(this.clock.now()).toISOString(),
      reloads: runs,
      coalesced,
    };
    return result;
  }
}
