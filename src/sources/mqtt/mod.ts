export { nodeOf } from "./topics.ts";
import { type Inbox, type InboxMessage, openInbox } from "./inbox.ts";
import type { Envelope, Sample } from "../../model.ts";
import { FFMPEG_MISSING, ffmpegVersion } from "../../images/ffmpeg.ts";
import { ImageIntake } from "../../images/intake.ts";
import { Policies } from "../../policies/policies.ts";
import { loadArchivers } from "../../policies/archive.ts";
import { hasImagePolicy } from "../../policies/schema.ts";
import { errorMessage } from "../../status.ts";
import { BatchEmitter } from "../emitter.ts";
import { OutboxHold } from "../outbox_hold.ts";
import { mqttCard } from "./card.ts";
import { BROKER_DROPPED, digestOf, TopicNodes } from "./topics.ts";
import { readPayload, timeSettings } from "./values.ts";
import type { TimeSettings } from "../../sample_time.ts";
import { NodeFigures } from "./node_figures.ts";
import { type Pending, showPending } from "./pending.ts";
import { type MqttSourceConfig, mqttSourceSchema, pendingCost } from "./schema.ts";
import { defineSource, type SourceContext } from "../../plugin.ts";
import { classify } from "../../payload.ts";
import { sameValue } from "../../util/same_value.ts";

/** The ack of a message that needs none (QoS 0, or acknowledged on receipt). */
const NOTHING = () => {};

/**
 * Subscribes to topics and turns payloads into samples. With `ack: commit`,
 * QoS 1 messages are acknowledged to the broker only after the outbox commit
 * (a crash means a redelivery, not a loss) and a redelivery of a message that
 * was already stored is recognised by its receipt. Bad payloads are counted
 * per node with the reason and never block other topics.
 */
export class MqttSource {
  #inbox: Inbox | null = null;
  readonly #emitter: BatchEmitter<Pending>;
  #policies: Policies | null = null;
  #images: ImageIntake | null = null;
  #tick: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  /** Hand-overs run one after another (messages, policy ticks, videos), in order. */
  #chain: Promise<void> = Promise.resolve();
  /** Figures of the nodes heard lately (bounded: node ids come from topics). */
  readonly nodes: NodeFigures;
  readonly #topicNodes: TopicNodes;
  /** The time settings alone: a copy of them per message, not of the whole config. */
  readonly #time: TimeSettings;
  /** A batch the outbox refused (full, or the disk is), tried again until it is taken. */
  readonly #hold: OutboxHold;
  /** The connection's state (the source shows degraded while a batch is held). */
  #connection: "up" | "degraded" = "degraded";

  constructor(readonly config: MqttSourceConfig, readonly ctx: SourceContext) {
    this.nodes = new NodeFigures(config.max_nodes, ctx.status);
    this.#topicNodes = new TopicNodes(config.topics, config.node_segment);
    this.#time = timeSettings(config);
    this.#hold = new OutboxHold({
      status: ctx.status,
      log: ctx.log,
      changed: () => this.#showState(),
    });
    this.#emitter = new BatchEmitter<Pending>({
      handle: (batch) => this.#serially(() => this.#handle(batch)),
      batch: config.batch,
      // Commit mode holds the broker's in-flight window: hand over at once.
      maxWait: config.ack === "commit" ? 0 : config.max_wait,
      maxQueued: 100_000,
      maxBytes: config.max_pending,
      sizeOf: (item) => item.bytes,
      onFull: "refuse",
    });
    showPending(ctx.status, this.#emitter);
  }

  #serially(fn: () => void | Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(fn);
    return this.#chain;
  }

  /** Applies a config that differs only in its policies without reconnecting. */
  update(config: unknown): boolean {
    const next = config as MqttSourceConfig;
    const same = sameValue({ ...next, policies: 0 }, { ...this.config, policies: 0 });
    if (!this.#policies || !next.policies || !same) return false;
    // The first image policy needs the image intake (ffmpeg, frame store): a restart builds it.
    if (!this.#images && hasImagePolicy(next.policies)) return false;
    this.#policies.update(next.policies);
    this.ctx.log.info("storage policies reloaded", {
      nodes: Object.keys(next.policies.nodes).length,
    });
    return true;
  }

  async start(): Promise<void> {
    const c = this.config;
    if (c.policies) {
      await loadArchivers();
      const policies = new Policies(c.policies, {
        path: `${this.ctx.dataDir}/policies-${this.ctx.name}.db`,
        log: this.ctx.log,
        maxInMemory: c.max_nodes,
      });
      policies.open();
      if (policies.recovered) this.ctx.status.info.policy_state_recovered = policies.recovered;
      this.#policies = policies;
      if (hasImagePolicy(c.policies)) {
        const images = new ImageIntake({
          policies,
          dir: `${this.ctx.dataDir}/timelapse-${this.ctx.name}`,
          maxDisk: c.policies.frames_max_disk,
          append: (envelopes) => this.#serially(() => this.#append(envelopes)),
          drop: (node, reason) => this.nodes.drop(node, reason),
          log: this.ctx.log,
          status: this.ctx.status,
          clock: this.ctx.clock,
        });
        await images.open();
        this.#images = images;
        Object.defineProperty(this.ctx.status.info, "timelapse", {
          enumerable: true,
          configurable: true,
          get: () => ({ ffmpeg: images.ffmpeg ?? FFMPEG_MISSING, ...images.timelapse.usage() }),
        });
      }
      this.#tick = setInterval(() => this.tick(), c.policies.tick);
    }
    this.#inbox = await openInbox({
      config: c,
      ctx: this.ctx,
      onMessage: (m) => this.#onMessage(m),
      full: () => this.#emitter.full,
      room: () => this.#emitter.room(),
      onState: (state) => {
        this.#connection = state;
        this.#showState();
      },
    });
    this.ctx.status.info.reader = this.#inbox.inWorker
      ? `${c.connections} Worker${c.connections > 1 ? "s" : ""}`
      : "main thread";
    this.nodes.show((node) => this.#policies?.storedBytes(node) ?? 0);
  }

  /**
   * Up when connected, unless image policies lack ffmpeg (they cannot work) or a batch waits
   * for room in the outbox: degraded then, with the reason in /status.
   */
  #showState(): void {
    const impaired = (this.#images && !this.#images.ffmpeg) || this.#hold.holding;
    this.ctx.status.state = this.#connection === "up" && impaired ? "degraded" : this.#connection;
  }

  #onMessage(m: InboxMessage): void {
    // Stopping (ack: commit): left to the broker for the next session (taken now, it could be
    // committed after that session had it again). With ack: receipt a Worker acknowledged it.
    if (this.#stopping && this.config.ack === "commit") return;
    const { topic, payload: message, id, release } = m;
    if (topic === BROKER_DROPPED) {
      this.ctx.status.info.broker_dropped = Number(new TextDecoder().decode(message)) || 0;
      return release();
    }
    const commit = this.config.ack === "commit";
    // ack: receipt lets the PUBACK go now (with the others of this read, in one write).
    if (!commit) release();
    const ack = commit ? release : NOTHING;
    const node = this.#topicNodes.of(topic);
    if (node === null) {
      // An empty, huge or control-character node id: counted for the source, no figures kept.
      this.ctx.status.drop("bad_node_name");
      return ack();
    }
    const stats = this.nodes.heard(node);
    stats.messages++;
    stats.bytes += message.length;
    this.ctx.status.count("messages");
    this.ctx.status.count("bytes", message.length);
    if (message.length > this.config.max_size) {
      this.nodes.drop(node, "over_max_size");
      return ack();
    }
    // With ack: commit, a message stored before a crash ate its PUBACK comes again (DUP flag,
    // same packet id): its receipt says so, and it is acknowledged without being stored twice.
    let receipt: [string, string] | undefined;
    if (commit && id !== undefined) {
      // Packet ids are per connection (session): past the first, the connection is in the key.
      const key = m.conn === 0 ? String(id) : `${m.conn}:${id}`;
      receipt = [key, digestOf(topic, message)];
      if (m.dup && this.ctx.receipt(receipt[0]) === receipt[1]) {
        this.ctx.status.count("redelivered_duplicates");
        return ack();
      }
    }
    const payload = classify(message);
    const now = this.ctx.clock.now();
    let keep = true;
    if (this.#policies) {
      const verdict = this.#policies.accept(node, message, { payload, now });
      if (verdict.kind === "dropped") {
        this.nodes.drop(node, verdict.reason);
        return ack();
      }
      if (verdict.kind === "image") {
        if (!this.#images) return ack(); // unreachable: image policies create the intake
        return this.#images.accept(node, message, { ...verdict, ack });
      }
      if (verdict.kind === "accepted") {
        keep = this.#policies.config.keep_samples;
        this.#queue({
          envelopes: verdict.envelopes,
          bytes: pendingCost(topic, message),
          ack: keep ? NOTHING : ack,
        });
        if (!keep) return;
        // Policy rows are not covered by receipts (their buffers are saved apart).
        receipt = undefined;
      }
    }
    const read = readPayload(payload, { ...this.#time, now });
    if ("reason" in read) {
      this.nodes.drop(node, read.reason);
      if (read.problem) {
        this.ctx.log.debug("payload time refused", { topic, problem: read.problem });
      }
      return ack();
    }
    const sample: Sample = {
      source: this.ctx.name,
      node,
      ts: read.ts ?? this.ctx.stamp(node, now),
      fields: read.fields,
      tags: { topic },
    };
    this.#queue({ sample, receipt, bytes: pendingCost(topic, message), ack });
  }

  #queue(item: Pending): void {
    if (!this.#emitter.push(item)) {
      // handleMessage pauses reading before this can happen; counted if it ever does.
      this.ctx.status.drop("backlog_full");
      return item.ack();
    }
  }

  async #handle(batch: Pending[]): Promise<void> {
    try {
      // Policed messages changed the buffers even when they made no row yet (an Aggregation
      // window, a pending LastValue): those are saved before the messages are acknowledged.
      if (batch.some((b) => b.envelopes)) this.#append(batch.flatMap((b) => b.envelopes ?? []));
      const samples: Sample[] = [];
      const receipts: [string, string][] = [];
      for (const b of batch) {
        if (b.sample) samples.push(b.sample);
        if (b.receipt) receipts.push(b.receipt);
      }
      // ack: commit waits for the commit (at once). A refusal (outbox or disk full) holds the
      // batch and its PUBACKs: the broker keeps the rest until the outbox takes it.
      const wait = this.config.ack === "commit";
      const emit = () =>
        this.ctx.emit(samples, { receipts: receipts.length ? receipts : undefined, wait });
      if (samples.length > 0 && !await this.#hold.run(emit, batch.length)) {
        // Stopping while held: unacknowledged (ack: commit) means the broker redelivers.
        if (!wait) this.ctx.status.drop("stopped_while_held", batch.length);
        return;
      }
      this.ctx.status.ok(batch.length);
      for (const b of batch) b.ack();
    } catch (e) {
      // Not acknowledged: with QoS 1 and a persistent session the broker redelivers.
      this.ctx.status.fail(e, batch.length);
      this.ctx.log.warn("samples not accepted; leaving them unacknowledged", {
        error: errorMessage(e),
      });
    }
  }

  /** Hands over LastValue rows whose interval passed and Aggregation windows ended by `now`. */
  tick(now: number = this.ctx.clock.now()): Promise<void> {
    const policies = this.#policies;
    if (!policies) return this.#chain;
    const rows = this.#serially(() => this.#append(policies.tick(now)));
    const videos = this.#images?.tick(now);
    return Promise.all([rows, videos]).then(() => {});
  }

  /**
   * Hands policy rows to the outbox, then persists the buffers (a crash in
   * between repeats rows, never loses them). Rows the outbox refuses are put
   * back into the policies' file: the messages were taken into the buffers
   * already, so a redelivery must not count them twice.
   */
  #append(envelopes: Envelope[]): void {
    const policies = this.#policies!;
    try {
      if (envelopes.length > 0) this.ctx.append(envelopes);
    } catch (e) {
      const dropped = policies.putBack(envelopes);
      if (dropped > 0) this.ctx.status.drop("policy_backlog_full", dropped);
      this.ctx.status.fail(e);
      this.ctx.log.warn("outbox refused policy rows; kept for the next tick", {
        rows: envelopes.length,
        error: errorMessage(e),
      });
    }
    try {
      policies.commit();
    } catch (e) {
      this.ctx.status.fail(e);
      this.ctx.log.error("policy buffers not saved", { error: errorMessage(e) });
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#tick);
    this.#hold.stop();
    await this.#emitter.drain();
    await this.#images?.close();
    this.#images = null;
    await this.#chain;
    this.#policies?.close();
    this.#policies = null;
    const inbox = this.#inbox;
    this.#inbox = null;
    await inbox?.close();
    this.ctx.status.state = "stopped";
  }
}

/** The `mqtt` source kind. */
export const mqttSource = defineSource({
  type: "mqtt",
  schema: mqttSourceSchema,
  create: (config, ctx) => new MqttSource(config, ctx),
  card: mqttCard,
  // Storage policies make rows (ClickHouse) and files (S3) instead of samples.
  produces: (config) => config.policies ? ["entry", "file"] : [],
  preflight: async (config) =>
    config.policies && hasImagePolicy(config.policies) && !(await ffmpegVersion())
      ? [`policies: ${FFMPEG_MISSING}`]
      : [],
});
