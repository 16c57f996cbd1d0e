import type mqtt from "mqtt";
import { z } from "zod";
import { duration } from "../../config/types.ts";
import type { Envelope } from "../../model.ts";
import { Liveness } from "../liveness.ts";
import { brokerFields, closeBroker, connectBroker, publishAll } from "../../mqtt/broker.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { LruMap } from "../../util/lru.ts";
import { MAX_DEVICES } from "../liveness.ts";
import { defaultInstance, venusValues } from "./paths.ts";

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
  /** A device silent this long gets `/Connected` 0. */
  offline_after: duration.default(30_000),
});

/** Parsed Venus sink config. */
export type VenusConfig = z.output<typeof venusSchema>;

/**
 * Publishes VE.Direct records as Venus OS does on its broker:
 * `N/<portal>/<service>/<instance>/<path>` with `{"value": ...}`, on change,
 * and everything again when someone publishes `R/<portal>/keepalive`.
 */
export class VenusSink implements Sink {
  #client: mqtt.MqttClient | null = null;
  /** The last value published per topic (bounded: about 50 topics per device). */
  #last = new LruMap<string, string>(MAX_DEVICES * 50);
  #liveness = new Liveness();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly portal: string;

  constructor(readonly config: VenusConfig, readonly ctx: SinkContext) {
    this.portal = config.portal_id ?? ctx.gatewayId.replace(/[^A-Za-z0-9_-]/g, "_");
  }

  async connect(): Promise<void> {
    const client = await connectBroker(this.config, this.ctx);
    client.on("message", (topic) => {
      if (topic === `R/${this.portal}/keepalive`) void this.#republish();
    });
    client.on(
      "connect",
      () => void client.subscribeAsync(`R/${this.portal}/keepalive`).catch(() => {}),
    );
    if (client.connected) await client.subscribeAsync(`R/${this.portal}/keepalive`);
    this.#client = client;
    this.#timer = setInterval(() => void this.#expire(), 1000);
  }

  // An unplugged device: /Connected goes to 0, as Venus shows a lost VE.Direct device.
  async #expire(): Promise<void> {
    const gone = this.#liveness.expire(this.ctx.clock.now(), this.config.offline_after);
    if (gone.length === 0) return;
    const messages: [string, string][] = gone.map((
      prefix,
    ) => [`${prefix}/Connected`, JSON.stringify({ value: 0 })]);
    try {
      await this.#publish(messages);
      for (const [t, p] of messages) this.#last.set(t, p);
    } catch (e) {
      this.ctx.status.fail(e);
    }
  }

  #publish(messages: [string, string][]): Promise<void> {
    const out = messages.map(([topic, payload]) => ({ topic, payload }));
    return publishAll(this.#client, out, this.config);
  }

  async #republish(): Promise<void> {
    try {
      await this.#publish([...this.#last]);
      this.ctx.status.count("keepalive_republish");
    } catch (e) {
      this.ctx.status.fail(e);
    }
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
      for (const [path, value] of Object.entries(mapped.values)) {
        const topic = prefix + path;
        const payload = JSON.stringify({ value });
        if (this.#last.get(topic) !== payload) changed.set(topic, payload);
      }
    }
    if (changed.size === 0) return;
    await this.#publish([...changed]);
    for (const [t, p] of changed) this.#last.set(t, p);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const client = this.#client;
    this.#client = null;
    await closeBroker(client);
  }
}

/** The `venus` sink kind. */
export const venusSink = defineSink({
  type: "venus",
  schema: venusSchema,
  create: (config, ctx) => new VenusSink(config, ctx),
});
