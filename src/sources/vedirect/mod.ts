import type { Sample } from "../../model.ts";
import { errorMessage } from "../../status.ts";
import { defineSource, type SourceContext } from "../../plugin.ts";
import type { DeviceRecord } from "./decode.ts";
import type { HexMessage } from "./hex.ts";
import { HexLink } from "./hex_link.ts";
import { identityOf, VeDirectSettings } from "./settings.ts";
import type { SettingsFamily } from "../../victron/settings.ts";
import { type DayHistory, decodeDayHistory, decodeDayRecord, HISTORY_TODAY } from "./history.ts";
import { YieldHistory } from "./days.ts";
import { NUMERIC_LABELS } from "../../victron/labels.ts";
import { SerialLine } from "./port.ts";
import { type VeDirectConfig, vedirectSchema } from "./schema.ts";
import { DeviceSimulator } from "./simulator.ts";
import { VeDirectStream } from "./stream.ts";
import { Snooze } from "../../util/timing.ts";
import { systemZone } from "../../util/zone.ts";
import { BatchEmitter } from "../emitter.ts";
import { vedirectCard } from "./card.ts";
import { vedirectMetrics } from "./metrics.ts";
import { isStale, judgeEvery, staleAfter } from "./freshness.ts";

/** Records waiting for a slow pipeline at most (about 15 minutes of one device). */
const MAX_QUEUED = 1000;

const encoder = new TextEncoder();

/** Reads one VE.Direct device (a serial port or the simulator) and emits its records. */
export class VeDirectSource {
  readonly node: string;
  readonly stream: VeDirectStream;
  #running = false;
  #line: SerialLine | null = null;
  #loop: Promise<void> | null = null;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #emitter: BatchEmitter<Sample>;
  #lastRecordAt: number | null = null;
  readonly #link: HexLink;
  #sim: DeviceSimulator | null = null;
  /** The device's settings over HEX (`GET/PUT /devices/<node>/settings`, Venus writes). */
  readonly settings: VeDirectSettings;
  /** What the frames said of the device (family, product, battery voltage): the settings' bounds. */
  #device: { family?: SettingsFamily; product?: string; volts?: number } = {};
  /** Today's history of a charger (HEX), merged into its samples. */
  #history: DayHistory = {};
  #historyAt = -Infinity;
  readonly #yield = new YieldHistory();
  readonly #snooze: Snooze;
  /** When the port opened and the last frame arrived, on the monotonic clock (staleness). */
  #openedAt = 0;
  #lastFrameMono: number | null = null;
  readonly #staleAfter: number;
  readonly #judging: Snooze;
  #watch: Promise<void> | null = null;
  /** The site's time zone: the dates of the yield bars, the simulated sun. */
  readonly #timeZone: string;

  constructor(readonly config: VeDirectConfig, readonly ctx: SourceContext) {
    this.node = config.node ?? ctx.name;
    this.#snooze = new Snooze(ctx.clock);
    this.#judging = new Snooze(ctx.clock);
    this.#staleAfter = staleAfter(config);
    this.#timeZone = ctx.timeZone ?? systemZone();
    this.#emitter = new BatchEmitter<Sample>({
      handle: (batch) => this.#handle(batch),
      batch: MAX_QUEUED,
      maxWait: 0,
      maxQueued: MAX_QUEUED,
      onFull: "drop_oldest",
      dropped: (n) => ctx.status.drop("pipeline_backpressure", n),
    });
    this.stream = new VeDirectStream({
      validateChecksum: config.validate_checksum,
      gapMs: config.gap,
      onRecord: (r) => this.#onRecord(r),
      onHex: (m) => this.#onHex(m),
    });
    this.#link = new HexLink((request) => this.#send(request), { timeoutMs: config.hex_timeout });
    this.settings = new VeDirectSettings(this.node, this.#link, {
      identity: () => identityOf(this.#device, config),
      writable: config.writable,
    });
  }

  /** Writes a HEX request to the device (the simulator answers in the next tick, as a line would). */
  #send(request: string): Promise<void> {
    if (this.#sim) {
      const reply = this.#sim.reply(request, this.ctx.clock.now());
      if (reply) setTimeout(() => this.stream.push(encoder.encode(reply), this.#monotonic()), 0);
      return Promise.resolve();
    }
    if (!this.#line) {
      return Promise.reject(
        new Error(`port ${this.config.port} of source ${this.ctx.name} is not open`),
      );
    }
    return this.#line.write(request);
  }

  /** Starts reading in the background. */
  start(): Promise<void> {
    this.#running = true;
    const info = { node: this.node, stale: false, stale_after_ms: this.#staleAfter };
    Object.assign(this.ctx.status.info, info);
    this.#loop = this.config.simulate ? this.#simulate() : this.#readPort();
    this.#watch = this.#watchFrames();
    return Promise.resolve();
  }

  /** Stops reading and waits for queued records to be handed over. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#idleTimer);
    await this.#line?.close();
    this.#snooze.wake();
    this.#judging.wake();
    await this.#loop;
    await this.#watch;
    await this.#emitter.drain();
    this.ctx.status.state = "stopped";
  }

  /** Reads a register with a HEX get; rejects after `timeoutMs` (the source's hex_timeout). */
  get(register: number, options: { timeoutMs?: number } = {}): Promise<HexMessage> {
    return this.#link.get(register, options);
  }

  /** Takes a day-history answer; false when the device has none (it stops being asked). */
  #takeHistory(msg: HexMessage): boolean {
    const day = msg.flags === 0 ? decodeDayHistory(msg.payload.subarray(3)) : null;
    if (!day) {
      this.ctx.status.count("history_unavailable");
      return false;
    }
    this.#history = day;
    this.ctx.status.count("history_reads");
    return true;
  }

  /** Whether today's history is due (chargers only, every history_every). */
  #historyDue(): boolean {
    const every = this.config.history_every;
    const charger = this.#device.family === "charger";
    return every > 0 && charger && this.#monotonic() - this.#historyAt >= every;
  }

  /** Reads today's history (a port that answers HEX), and the past days once a day. */
  async #readHistory(): Promise<void> {
    const started = this.#monotonic();
    // Never due while a read runs: on a slow line, 30 days outlast a short history_every.
    this.#historyAt = Infinity;
    try {
      const msg = await this.get(HISTORY_TODAY);
      if (!this.#takeHistory(msg)) return; // no history on this device: never asked again
      await this.#yield.update(decodeDayRecord(msg.payload.subarray(3))!, (r) => this.get(r));
      this.ctx.status.info.days = this.#yield.days(this.ctx.clock.now(), this.#timeZone);
      this.#historyAt = started;
    } catch (e) {
      this.#historyAt = started;
      // No answer (an older charger, a busy line): asked again at the next interval.
      this.ctx.status.count("history_unanswered");
      this.ctx.log.debug("no daily history", { error: errorMessage(e) });
    }
  }

  #onHex(msg: HexMessage): void {
    this.ctx.status.count("hex_" + msg.name);
    this.#link.answer(msg);
  }

  /**
   * Bytes are timed on the monotonic clock (silences between blocks; a step of the wall clock
   * is no silence), records stamped on the wall clock.
   */
  #monotonic(): number {
    return this.ctx.clock.monotonic?.() ?? performance.now();
  }

  #onRecord(record: DeviceRecord): void {
    // The record's time is when its first block arrived, read back on the wall clock.
    const at = Math.round(this.ctx.clock.now() - (this.#monotonic() - record.ts));
    this.#lastRecordAt = at;
    this.#lastFrameMono = record.ts;
    if (this.ctx.status.state === "stale") this.#judge();
    this.#identify(record);
    const fields = { ...record.fields, ...this.#history };
    const sample: Sample = {
      source: this.ctx.name,
      node: this.node,
      ts: this.ctx.stamp(this.node, at),
      fields,
      tags: record.tags,
    };
    this.ctx.status.info.device = { ...record.tags, values: fields, units: unitsOf(fields) };
    this.#emitter.push(sample);
  }

  #identify(record: DeviceRecord): void {
    const f = record.fields;
    const d = this.#device;
    d.family ??= "PPV" in f ? "charger" : "SOC" in f || "CE" in f ? "monitor" : undefined;
    d.product = record.tags.product ?? d.product;
    if (typeof f.V === "number") d.volts = f.V;
  }

  async #handle(batch: Sample[]): Promise<void> {
    try {
      await this.ctx.emit(batch);
      this.ctx.status.ok(batch.length);
    } catch (e) {
      this.ctx.status.fail(e, batch.length);
      this.ctx.status.drop("pipeline_rejected", batch.length);
      this.ctx.log.warn("samples not accepted by the pipeline", { error: errorMessage(e) });
    }
  }

  #publishCounters(): void {
    const s = this.ctx.status;
    Object.assign(s.counters, this.stream.counters);
    s.info.last_record_at = this.#lastRecordAt ? new Date(this.#lastRecordAt).toISOString() : null;
    s.info.port = this.config.port ?? `simulated ${this.config.simulate}`;
    s.info.node = this.node;
  }

  async #simulate(): Promise<void> {
    const sim = new DeviceSimulator(this.config.simulate!, {
      seed: this.config.seed,
      timeZone: this.#timeZone,
    });
    this.#sim = sim;
    this.ctx.status.state = "up";
    this.#openedAt = this.#monotonic();
    this.stream.idle(); // the simulator starts on a block boundary
    while (this.#running) {
      this.stream.push(sim.frame(this.ctx.clock.now()), this.#monotonic());
      this.stream.idle();
      if (this.#historyDue()) await this.#readHistory();
      this.#publishCounters();
      await this.#snooze.sleep(this.config.interval);
    }
  }

  async #readPort(): Promise<void> {
    const { port, baud, reconnect_min, reconnect_max } = this.config;
    const status = this.ctx.status;
    let backoff = reconnect_min;
    while (this.#running) {
      try {
        this.#line = await SerialLine.open(port!, { baud });
        status.state = "up";
        this.#openedAt = this.#monotonic();
        status.info.stale = false;
        status.count("opens");
        this.ctx.log.info("serial port open", { port });
        this.stream.lost();
        backoff = reconnect_min;
        while (this.#running) {
          const bytes = await this.#line.read();
          if (bytes === null) throw new Error(`serial port ${port} closed (device unplugged?)`);
          this.stream.push(bytes, this.#monotonic());
          this.#armIdle();
          // Checked here, per chunk read: the read itself is started once per history_every.
          if (this.#historyDue()) void this.#readHistory();
          this.#publishCounters();
        }
      } catch (e) {
        if (!this.#running) break;
        status.state = "down";
        status.info.stale = true;
        status.fail(e);
        status.count("reconnects");
        this.ctx.log.warn("serial port unavailable, retrying", {
          port,
          error: errorMessage(e),
          retry_ms: backoff,
        });
      } finally {
        await this.#line?.close();
        this.#line = null;
      }
      if (!this.#running) break;
      await this.#snooze.sleep(backoff);
      backoff = Math.min(reconnect_max, backoff * 2);
    }
  }

  /** Looks at the age of the last frame a few times per `stale_after`. */
  async #watchFrames(): Promise<void> {
    const every = judgeEvery(this.#staleAfter);
    while (this.#running) {
      await this.#judging.sleep(every);
      if (this.#running) this.#judge();
    }
  }

  /**
   * An open port whose device sends nothing (powered off, TX wire loose, wrong baud: bytes
   * but no valid frame) is `stale`, not `up`: the state every reader of the status sees.
   */
  #judge(): void {
    const status = this.ctx.status;
    if (status.state !== "up" && status.state !== "stale") return;
    // On the monotonic clock: a step of the wall clock makes no device stale or fresh.
    const seen = { lastFrameAt: this.#lastFrameMono, openedAt: this.#openedAt };
    const stale = isStale(seen, this.#monotonic(), this.#staleAfter);
    status.info.stale = stale;
    if (stale === (status.state === "stale")) return;
    status.state = stale ? "stale" : "up";
    this.#publishCounters();
    const where = { port: this.config.port, last_frame_at: status.info.last_record_at };
    if (!stale) return this.ctx.log.info("device sending frames again", where);
    this.ctx.log.warn(
      `no VE.Direct frame for ${this.#staleAfter / 1000} s: device stale (is it powered? ` +
        `check the cable's TX wire and the baud rate; edge-gateway decode shows what arrives)`,
      { ...where, bytes_read: this.stream.counters.bytes },
    );
  }

  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.stream.idle();
      this.#publishCounters();
    }, this.config.gap);
  }
}

/** Display units of the numeric fields of a record (for the status page and metrics). */
function unitsOf(fields: DeviceRecord["fields"]): Record<string, string> {
  const units: Record<string, string> = {};
  for (const k in fields) {
    const unit = NUMERIC_LABELS[k]?.unit;
    if (unit) units[k] = unit;
  }
  return units;
}

/** The `vedirect` source kind. */
export const vedirectSource = defineSource({
  type: "vedirect",
  schema: vedirectSchema,
  create: (config, ctx) => new VeDirectSource(config, ctx),
  simulated: (config) => config.simulate !== undefined,
  card: vedirectCard,
  metrics: vedirectMetrics,
});
