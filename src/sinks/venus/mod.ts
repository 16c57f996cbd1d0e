import type mqtt from "mqtt";
import { z } from "zod";
import { duration } from "../../config_values.ts";
import type { Envelope } from "../../model.ts";
import { Liveness } from "../liveness.ts";
import { brokerFields, closeBroker, connectBroker, publishAll } from "../../mqtt/broker.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { LruMap } from "../../util/lru.ts";
import { MAX_DEVICES } from "../liveness.ts";
import { WritePolicy, writesSchema } from "../../mqtt/write_policy.ts";
import { defaultInstance, venusValues } from "./paths.ts";
import { VenusWrites } from "./writes.ts";
import { DeviceWrites } from "../../mqtt/device_writes.ts";
import { keepaliveOptions, MIN_REPUBLISH_UNUSED, RepublishTokens } from "./keepalive.ts";
import { deadline } from "../../util/timing.ts";
import { type Bounds, readChargeLimit, withBounds } from "./limits.ts";

const LIMIT = "/Settings/ChargeCurrentLimit";

/** How long a stop waits for the broker to take the goodbye (it may be stopping too). */
const CLOSE_WAIT_MS = 2000;

/** Config of the Venus OS MQTT layout sink. */
export const venusSchema = z.strictObject({
  type: z.literal("venus"),
  ...deliveryFields,
  ...brokerFields,
  /** Portal id in `N/<portal id>/...`; defaults to the gateway id. */
  portal_id: z.string().regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, _ and -").optional(),
  /** Device instance per node; otherwise a stable number derived from the node name. */
  instances: z.record(z.string(), z.number().int().min(0).max(65535)).default({}),
  qos: z.union([z.literal(0), z.literal(1)]).default(0),
  /** A device silent this long is removed: an empty payload on each of its topics. */
  offline_after: duration.default(30_000),
  /**
   * As a GX: publish only while a client sent `R/<portal>/keepalive` within
   * `keepalive_timeout`; false publishes every change, keepalive or not.
   */
  keepalive: z.boolean().default(true),
  keepalive_timeout: duration.default(60_000),
  /** Full republishes a second at most, as dbus-flashmq's token bucket (3). */
  republish_per_second: z.number().int().min(1).max(100).default(3),
  /** No longer used (republish_per_second replaced it): accepted so older configs still load. */
  min_republish: duration.optional(),
  /** `N/<portal>/heartbeat` while a client is alive. */
  heartbeat_every: duration.default(3_000),
  /**
   * MQTT keepalive with the broker: if the gateway dies, the broker publishes its last
   * will (`heartbeat` 0) after 1.5 times this silence.
   */
  broker_keepalive: duration.default(10_000),
  /** What `platform/0/Firmware/Installed/Version` says (clients compare it with v3.50). */
  firmware_version: z.string().default("v3.60"),
  /**
   * `W/` writes change the chargers: off unless enabled, then only from the broker user
   * `from` that the broker's ACL lets publish `W/<portal>/#` (checked at each connection).
   */
  writes: writesSchema,
});

/** Parsed Venus sink config. */
export type VenusConfig = z.output<typeof venusSchema>;

/**
 * Publishes VE.Direct records as Venus OS (dbus-flashmq) does on its broker:
 * `N/<portal>/<service>/<instance>/<path>` with `{"value": ...}`, on change, while
 * a client keeps it alive; a retained `system/0/Serial` to find the installation;
 * everything again on a keepalive, then `full_publish_completed` with its echo.
 */
export class VenusSink implements Sink {
  #client: mqtt.MqttClient | null = null;
  /** The last value published per topic (bounded: about 50 topics per device). */
  #last = new LruMap<string, string>(MAX_DEVICES * 50);
  #liveness = new Liveness();
  #timers: ReturnType<typeof setInterval>[] = [];
  #aliveUntil = 0;
  #tokens: RepublishTokens | null = null;
  /** What a client may set a writable topic to (bounded as #nodes). */
  #bounds = new LruMap<string, Bounds>(MAX_DEVICES);
  /** Keepalives are answered one after another: an echo follows its own republish. */
  #answering: Promise<void> = Promise.resolve();
  readonly portal: string;
  /** Which node each device prefix (`N/<portal>/<service>/<instance>`) is (bounded as #last). */
  #nodes = new LruMap<string, string>(MAX_DEVICES);
  readonly #writes: VenusWrites;
  readonly #policy: WritePolicy;

  constructor(readonly config: VenusConfig, readonly ctx: SinkContext) {
    this.portal = config.portal_id ?? ctx.gatewayId.replace(/[^A-Za-z0-9_-]/g, "_");
    this.#policy = new WritePolicy(config.writes, {
      log: ctx.log,
      topic: `W/${this.portal}/#`,
      acl: `src/sinks/venus/README.md, "The broker's ACL"`,
    });
    this.#writes = new VenusWrites({
      writes: new DeviceWrites({
        policy: this.#policy,
        now: () => ctx.clock.now(),
        settings: ctx.settings,
        status: ctx.status,
        log: ctx.log,
      }),
      portal: this.portal,
      nodeOf: (prefix) => this.#nodes.get(prefix),
      last: (topic) => this.#last.get(topic),
      publish: (topic, payload) => this.#keep(topic, payload),
      status: ctx.status,
    });
  }

  get #alive(): boolean {
    return !this.config.keepalive || this.ctx.clock.now() < this.#aliveUntil;
  }

  /** Installation-level topics a GX publishes besides the devices'. */
  /**
   * What a GX publishes of itself: its firmware, and the heartbeat, so a client that makes its
   * metrics at `full_publish_completed` (victron-mqtt) has the heartbeat from the first refresh.
   */
  #system(): [string, string][] {
    return [
      [
        `N/${this.portal}/platform/0/Firmware/Installed/Version`,
        value(this.config.firmware_version),
      ],
      [`N/${this.portal}/heartbeat`, value(Math.floor(this.ctx.clock.now() / 1000))],
    ];
  }

  async connect(): Promise<void> {
    if (this.config.min_republish !== undefined) this.ctx.log.warn(MIN_REPUBLISH_UNUSED);
    // The broker tells clients the gateway is gone: victron-mqtt ignores empty values, but
    // its heartbeat metric takes this 0 at once (an automation can alert on it).
    const client = await connectBroker(this.config, this.ctx, {
      will: { topic: `N/${this.portal}/heartbeat`, payload: value(0), qos: 1, retain: false },
      keepalive: this.config.broker_keepalive,
    });
    const keepalive = `R/${this.portal}/keepalive`;
    const writes = `W/${this.portal}/`;
    client.on("message", (topic, payload, packet) => {
      if (topic === keepalive) this.#onKeepalive(payload.toString());
      else if (this.#policy.isProbe(topic, payload.toString())) return;
      else if (topic.startsWith(writes)) {
        this.#writes.take(topic, payload.toString(), { retained: packet.retain });
      }
    });
    // Clients find the installation by this one retained topic, on every (re)connection. Once
    // subscribed to W/, the broker's ACL is checked (writes wait for it).
    const announce = () =>
      void Promise.all([
        client.subscribeAsync([keepalive, `${writes}#`]).then(() => this.#verifyAcl(writes)),
        client.publishAsync(`N/${this.portal}/system/0/Serial`, value(this.portal), {
          qos: 1,
          retain: true,
        }),
      ]).catch((e) => this.ctx.status.fail(e));
    client.on("connect", announce);
    if (client.connected) announce();
    this.#client = client;
    this.#showWrites();
    this.#timers.push(
      setInterval(() => void this.#expire(), 1000),
      setInterval(() => void this.#heartbeat(), this.config.heartbeat_every),
    );
    const serve = () => void this.#onConnected().catch((e) => this.ctx.status.fail(e));
    client.on("connect", serve);
    if (client.connected) serve();
  }

  /**
   * A (re)started gateway serves at once, as if kept alive for one `keepalive_timeout`: clients
   * that kept it alive before (HA keeps its broker connection) need not wait for their next one.
   */
  async #onConnected(): Promise<void> {
    const until = this.ctx.clock.now() + this.config.keepalive_timeout;
    this.#aliveUntil = Math.max(this.#aliveUntil, until);
    await this.#publish([...this.#system(), ...this.#last]);
  }

  async #verifyAcl(writes: string): Promise<void> {
    await this.#policy.verify(this.config, { ...this.ctx, prefix: writes });
    this.#showWrites();
  }

  /** Whether writes are taken, in /status. */
  #showWrites(): void {
    this.ctx.status.info.writes = this.#policy.refusal === null
      ? `taken from mqtt user ${this.config.writes.from}`
      : `refused: ${this.#policy.refusal}`;
  }

  #onKeepalive(payload: string): void {
    const { echo, suppress } = keepaliveOptions(payload);
    const now = this.ctx.clock.now();
    const wasAlive = now < this.#aliveUntil;
    this.#aliveUntil = now + this.config.keepalive_timeout;
    this.ctx.status.count("keepalives");
    // suppress-republish is honoured only for a client that was already being served.
    if (suppress && wasAlive) return;
    this.#tokens ??= new RepublishTokens(this.config.republish_per_second);
    if (!this.#tokens.take(this.ctx.clock.monotonic?.() ?? performance.now())) {
      this.ctx.status.count("keepalive_republish_skipped");
      return;
    }
    this.#answering = this.#answering.then(() => this.#fullPublish(echo));
  }

  async #fullPublish(echo?: string): Promise<void> {
    try {
      await this.#publish([...this.#system(), ...this.#last]);
      this.ctx.status.count("keepalive_republish");
      const done: Record<string, unknown> = { value: Math.floor(this.ctx.clock.now() / 1000) };
      if (echo !== undefined) done["full-publish-completed-echo"] = echo;
      await this.#publish([[`N/${this.portal}/full_publish_completed`, JSON.stringify(done)]]);
    } catch (e) {
      this.ctx.status.fail(e);
    }
  }

  async #heartbeat(): Promise<void> {
    if (!this.#alive || !this.#client?.connected) return;
    const now = Math.floor(this.ctx.clock.now() / 1000);
    await this.#publish([[`N/${this.portal}/heartbeat`, value(now)]])
      .catch((e) => this.ctx.status.fail(e));
  }

  // A device gone (unplugged, or its source removed): an empty payload on each of its
  // topics tells clients it no longer exists, as a GX does when a service leaves D-Bus.
  // Gone too: a device its source judges stale (no frame within its stale_after).
  async #expire(): Promise<void> {
    const stale = new Set(this.ctx.staleDevices?.());
    const silent = stale.size === 0
      ? []
      : [...this.#nodes].filter(([prefix, node]) => stale.has(node) && this.#liveness.drop(prefix))
        .map(([prefix]) => prefix);
    const gone = [
      ...silent,
      ...this.#liveness.expire(this.ctx.clock.now(), this.config.offline_after),
    ];
    if (gone.length === 0) return;
    const topics = [...this.#last.keys()].filter((t) => gone.some((p) => t.startsWith(p + "/")));
    for (const t of topics) this.#last.delete(t);
    // Forgotten with its topics: when it comes back its HEX-read settings (the charge current
    // limit) are read again, as a GX reads a VE.Direct device that reappears.
    for (const p of gone) {
      this.#nodes.delete(p);
      this.#bounds.delete(`${p}${LIMIT}`);
    }
    this.ctx.status.count("devices_forgotten", gone.length); // broker or not
    if (!this.#alive) return;
    try {
      await this.#publish(topics.map((t) => [t, ""]));
      this.ctx.status.count("devices_removed", gone.length);
    } catch (e) {
      this.ctx.status.fail(e);
    }
  }

  #publish(messages: [string, string][]): Promise<void> {
    const out = messages.map(([topic, payload]) => ({ topic, payload }));
    return publishAll(this.#client, out, this.config);
  }

  async write(batch: Envelope[]): Promise<void> {
    const changed = new Map<string, string>();
    for (const e of batch) {
      if (e.kind !== "sample") continue;
      const mapped = venusValues(e.data);
      if (!mapped) continue;
      const instance = this.config.instances[e.data.node] ?? defaultInstance(e.data.node);
      const prefix = `N/${this.portal}/${mapped.service}/${instance}`;
      mapped.values["/DeviceInstance"] = instance;
      this.#liveness.seen(prefix, e.data.ts);
      if (!this.#nodes.has(prefix)) {
        this.#nodes.set(prefix, e.data.node);
        if (mapped.service === "solarcharger") void this.#readLimit(prefix, e.data.node);
      }
      for (const [path, v] of Object.entries(mapped.values)) {
        const topic = prefix + path;
        const payload = value(v);
        if (this.#last.get(topic) !== payload) changed.set(topic, payload);
      }
    }
    if (changed.size === 0) return;
    // Without a live client a GX publishes nothing; the values wait for the next keepalive.
    if (this.#alive) await this.#publish([...changed]);
    for (const [t, p] of changed) this.#last.set(t, p);
  }

  /** Remembers a topic's value (for full publishes) and publishes it while a client is alive. */
  async #keep(topic: string, payload: string): Promise<void> {
    const shown = withBounds(payload, this.#bounds.get(topic));
    this.#last.set(topic, shown);
    if (this.#alive) await this.#publish([[topic, shown]]);
  }

  /** Read once per charger's presence (again after a gap), so clients see it and can write it. */
  async #readLimit(prefix: string, node: string): Promise<void> {
    try {
      const limit = await readChargeLimit(this.ctx.settings, node);
      if (!limit) return;
      if (limit.bounds) this.#bounds.set(`${prefix}${LIMIT}`, limit.bounds);
      await this.#keep(`${prefix}${LIMIT}`, value(limit.value));
    } catch (e) {
      this.ctx.log.debug("charge current limit not read", { node, error: String(e) });
    }
  }

  /**
   * A clean stop says so: heartbeat 0, and an empty payload on every device topic and the
   * installation's serial, as a GX does when its services leave (clients that honour empty
   * values blank them; victron-mqtt at least sees the heartbeat).
   */
  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    // A broker that stops first (the same host shutting down) answers nothing: every wait here
    // is bounded, so the stop is not held until stop_timeout.
    await deadline(this.#writes.settled(), CLOSE_WAIT_MS, "the W/ writes").catch(() => {});
    const client = this.#client;
    if (client?.connected) {
      const gone: [string, string][] = [...this.#last.keys()].map((t) => [t, ""]);
      const goodbye = Promise.all([
        this.#publish([[`N/${this.portal}/heartbeat`, value(0)], ...gone]),
        client.publishAsync(`N/${this.portal}/system/0/Serial`, "", { qos: 1, retain: true }),
      ]);
      await deadline(goodbye, CLOSE_WAIT_MS, "the goodbye").catch(() => {});
    }
    this.#client = null;
    await closeBroker(client);
  }
}

function value(v: unknown): string {
  return JSON.stringify({ value: v });
}

/** The `venus` sink kind. */
export const venusSink = defineSink({
  type: "venus",
  schema: venusSchema,
  create: (config, ctx) => new VenusSink(config, ctx),
});
