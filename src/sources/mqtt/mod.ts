import type mqtt from "mqtt";
import { z } from "zod";
import { duration, size } from "../../config/types.ts";
import { brokerFields, connectBroker } from "../../mqtt/broker.ts";
import type { Envelope, Sample } from "../../model.ts";
import { FFMPEG_MISSING } from "../../images/ffmpeg.ts";
import { ImageIntake } from "../../images/intake.ts";
import { Policies } from "../../policies/policies.ts";
import { hasImagePolicy, policiesSchema } from "../../policies/schema.ts";
import { errorMessage } from "../../status.ts";
import { defineSource, type SourceContext } from "../source.ts";
import { classify } from "./payload.ts";

/** Config of the MQTT subscriber source. */
export const mqttSourceSchema = z.strictObject({
  type: z.literal("mqtt"),
  ...brokerFields,
  timeout: duration.default(10_000),
  /** Topic filters, wildcards allowed: `pepeunit/+/pepeunit`. */
  topics: z.array(z.string().min(1)).min(1),
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
  /** Which `+` of the matching filter is the node id (1 = the first); the whole topic without `+`. */
  node_segment: z.number().int().min(1).default(1),
  /** Larger payloads are dropped (reason over_max_size). */
  max_size: size.default(256 * 1024),
  /**
   * `commit`: acknowledge QoS 1 messages only once the outbox holds them (a crash means a
   * redelivery, never a loss; mqtt.js then hands over one message at a time, MQTT 5).
   * `receipt`: acknowledge on arrival and batch for throughput (a crash may lose one batch).
   */
  ack: z.enum(["commit", "receipt"]).default("receipt"),
  /** With ack: receipt, messages handed to the pipeline together. */
  batch: z.number().int().min(1).max(10_000).default(500),
  max_wait: duration.default(50),
  /**
   * Per-node storage policies (pepeunit's documents): values of a node with a
   * policy become rows for ClickHouse (and files for S3) instead of samples.
   */
  policies: policiesSchema.optional(),
});

/** Parsed MQTT source config. */
export type MqttSourceConfig = z.output<typeof mqttSourceSchema>;

/** The node id of a topic under a filter; null when the topic does not match it. */
export function nodeOf(topic: string, filter: string, segment: number): string | null {
  const t = topic.split("/");
  const f = filter.split("/");
  const plus: string[] = [];
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return plus[segment - 1] ?? (plus.length === 0 ? topic : null);
    if (i >= t.length) return null;
    if (f[i] === "+") plus.push(t[i]);
    else if (f[i] !== t[i]) return null;
  }
  if (t.length !== f.length) return null;
  return plus.length === 0 ? topic : plus[segment - 1] ?? null;
}

interface NodeStats {
  messages: number;
  bytes: number;
  dropped: Record<string, number>;
}

/**
 * Subscribes to topics and turns payloads into samples. QoS 1 messages are
 * acknowledged to the broker only after the pipeline took them, so a crash
 * means a redelivery, not a loss. Bad payloads are counted per node with the
 * reason and never block other topics.
 */
export class MqttSource {
  #client: mqtt.MqttClient | null = null;
  #pending: { sample?: Sample; envelopes?: Envelope[]; ack: () => void }[] = [];
  #policies: Policies | null = null;
  #images: ImageIntake | null = null;
  #tick: ReturnType<typeof setInterval> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly nodes = new Map<string, NodeStats>();

  constructor(readonly config: MqttSourceConfig, readonly ctx: SourceContext) {}

  #node(node: string): NodeStats {
    let s = this.nodes.get(node);
    if (!s) this.nodes.set(node, s = { messages: 0, bytes: 0, dropped: {} });
    return s;
  }

  #drop(node: string, reason: string): void {
    const s = this.#node(node);
    s.dropped[reason] = (s.dropped[reason] ?? 0) + 1;
    this.ctx.status.drop(reason);
  }

  /** Applies a config that differs only in its policies without reconnecting. */
  update(config: unknown): boolean {
    const next = config as MqttSourceConfig;
    const rest = (c: MqttSourceConfig) => JSON.stringify({ ...c, policies: undefined });
    if (!this.#policies || !next.policies || rest(next) !== rest(this.config)) return false;
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
      const policies = new Policies(c.policies, {
        path: `${this.ctx.dataDir}/policies-${this.ctx.name}.db`,
        log: this.ctx.log,
      });
      policies.open();
      this.#policies = policies;
      if (hasImagePolicy(c.policies)) {
        const images = new ImageIntake({
          policies,
          dir: `${this.ctx.dataDir}/timelapse-${this.ctx.name}`,
          maxDisk: c.policies.frames_max_disk,
          append: (envelopes) => {
            this.#flushing = this.#flushing.then(() => this.#append(envelopes));
            return this.#flushing;
          },
          drop: (node, reason) => this.#drop(node, reason),
          log: this.ctx.log,
          status: this.ctx.status,
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
    const client = await connectBroker(
      { ...c },
      { name: this.ctx.name, gatewayId: this.ctx.gatewayId, status: this.ctx.status },
      c.ack === "commit"
        ? {
          customHandleAcks: (topic, message, _packet, done) =>
            this.#onMessage(topic, message, () => done(0)),
        }
        : {},
    );
    if (c.ack === "receipt") {
      client.on("message", (topic, message) => this.#onMessage(topic, message, () => {}));
    }
    const subscribe = () =>
      client.subscribeAsync(c.topics, { qos: c.qos }).then(() =>
        // Without ffmpeg the image policies cannot work: degraded, with the reason in /status.
        this.ctx.status.state = this.#images && !this.#images.ffmpeg ? "degraded" : "up"
      )
        .catch(
          (e) => this.ctx.status.fail(e),
        );
    client.on("connect", () => void subscribe());
    client.on("close", () => this.ctx.status.state = "degraded");
    if (client.connected) await subscribe();
    this.#client = client;
    // Per-node figures are read when /status is rendered, not rebuilt on every message.
    Object.defineProperty(this.ctx.status.info, "nodes", {
      enumerable: true,
      configurable: true,
      get: () =>
        Object.fromEntries(
          [...this.nodes].map((
            [node, s],
          ) => [node, { ...s, stored_bytes: this.#policies?.storedBytes(node) ?? 0 }]),
        ),
    });
  }

  #onMessage(topic: string, message: Uint8Array, ack: () => void): void {
    let node = topic;
    for (const filter of this.config.topics) {
      const n = nodeOf(topic, filter, this.config.node_segment);
      if (n !== null) {
        node = n;
        break;
      }
    }
    const stats = this.#node(node);
    stats.messages++;
    stats.bytes += message.length;
    this.ctx.status.count("messages");
    this.ctx.status.count("bytes", message.length);
    if (message.length > this.config.max_size) {
      this.#drop(node, "over_max_size");
      return ack();
    }
    const payload = classify(message);
    let keep = true;
    if (this.#policies) {
      const verdict = this.#policies.accept(node, message, { payload, now: Date.now() });
      if (verdict.kind === "dropped") {
        this.#drop(node, verdict.reason);
        return ack();
      }
      if (verdict.kind === "image") {
        if (!this.#images) return ack(); // unreachable: image policies create the intake
        return this.#images.accept(node, message, { ...verdict, ack });
      }
      if (verdict.kind === "accepted") {
        keep = this.#policies.config.keep_samples;
        this.#queue({ envelopes: verdict.envelopes, ack: keep ? () => {} : ack });
        if (!keep) return;
      }
    }
    let fields: Sample["fields"];
    switch (payload.kind) {
      case "number":
      case "text":
        fields = { value: payload.value };
        break;
      case "json":
        fields = payload.fields;
        break;
      case "invalid":
        this.#drop(node, payload.reason);
        return ack();
      default:
        // Images and binary data need a file policy (MinIO/S3), not a time series.
        this.#drop(node, `unsupported_${payload.kind}`);
        return ack();
    }
    if (Object.keys(fields).length === 0) {
      this.#drop(node, "no_values");
      return ack();
    }
    const sample: Sample = { source: this.ctx.name, node, ts: Date.now(), fields, tags: { topic } };
    this.#queue({ sample, ack });
  }

  #queue(item: { sample?: Sample; envelopes?: Envelope[]; ack: () => void }): void {
    this.#pending.push(item);
    // After-commit acks hold the broker's stream: hand each message over at once.
    if (this.config.ack === "commit" || this.#pending.length >= this.config.batch) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.config.max_wait);
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    this.#flushing = this.#flushing.then(async () => {
      try {
        // Policed messages changed the buffers even when they made no row yet (an Aggregation
        // window, a pending LastValue): those are saved before the messages are acknowledged.
        if (batch.some((b) => b.envelopes)) this.#append(batch.flatMap((b) => b.envelopes ?? []));
        const samples = batch.flatMap((b) => b.sample ? [b.sample] : []);
        if (samples.length > 0) await this.ctx.emit(samples);
        this.ctx.status.ok(batch.length);
        for (const b of batch) b.ack();
      } catch (e) {
        // Not acknowledged: with QoS 1 and a persistent session the broker redelivers.
        this.ctx.status.fail(e, batch.length);
        this.ctx.log.warn("samples not accepted; leaving them unacknowledged", {
          error: errorMessage(e),
        });
      }
    });
  }

  /** Hands over LastValue rows whose interval passed and Aggregation windows ended by `now`. */
  tick(now: number = Date.now()): Promise<void> {
    const policies = this.#policies;
    if (!policies) return this.#flushing;
    this.#flushing = this.#flushing.then(() => this.#append(policies.tick(now)));
    const videos = this.#images?.tick(now);
    return Promise.all([this.#flushing, videos]).then(() => {});
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
    clearInterval(this.#tick);
    this.#flush();
    await this.#images?.close();
    this.#images = null;
    await this.#flushing;
    this.#policies?.close();
    this.#policies = null;
    const client = this.#client;
    this.#client = null;
    if (client) await client.endAsync().catch(() => {});
    this.ctx.status.state = "stopped";
  }
}

/** The `mqtt` source kind. */
export const mqttSource = defineSource({
  type: "mqtt",
  schema: mqttSourceSchema,
  create: (config, ctx) => new MqttSource(config, ctx),
});
