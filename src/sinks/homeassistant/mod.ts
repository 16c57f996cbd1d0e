import type mqtt from "mqtt";
import { z } from "zod";
import { duration } from "../../config_values.ts";
import type { Envelope, Sample } from "../../model.ts";
import { Liveness } from "../liveness.ts";
import { brokerFields, closeBroker, connectBroker, publishAll } from "../../mqtt/broker.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { LruMap } from "../../util/lru.ts";
import { deadline } from "../../util/timing.ts";
import { MAX_DEVICES } from "../liveness.ts";
import { sensorFor } from "./sensors.ts";

/** How long a stop waits for the broker to take the offline status. */
const CLOSE_WAIT_MS = 2000;

/** Config of the Home Assistant MQTT discovery sink. */
export const homeassistantSchema = z.strictObject({
  type: z.literal("homeassistant"),
  ...deliveryFields,
  ...brokerFields,
  discovery_prefix: z.string().default("homeassistant"),
  /** Root of state and availability topics. */
  base_topic: z.string().default("edge-gateway"),
  /** A device silent this long is shown offline. */
  offline_after: duration.default(30_000),
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
  /**
   * MQTT keepalive with the broker: a hung gateway's last will ("offline": every entity
   * unavailable) comes 1.5 times this after its last packet.
   */
  broker_keepalive: duration.default(20_000),
});

/** Parsed Home Assistant sink config. */
export type HomeAssistantConfig = z.output<typeof homeassistantSchema>;

function objectId(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
}

/**
 * Home Assistant MQTT discovery: one retained config per sensor, a state
 * topic per device, and availability from both the gateway's last will and the
 * device's last-frame age.
 */
export class HomeAssistantSink implements Sink {
  #client: mqtt.MqttClient | null = null;
  /** Devices announced (bounded: a flood of node names must not grow memory). */
  #announced = new LruMap<string, Sample>(MAX_DEVICES);
  #liveness = new Liveness();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly base: string;

  constructor(readonly config: HomeAssistantConfig, readonly ctx: SinkContext) {
    this.base = `${config.base_topic}/${objectId(ctx.gatewayId)}`;
  }

  #availability(node: string): string {
    return `${this.base}/${objectId(node)}/availability`;
  }

  async connect(): Promise<void> {
    const gatewayStatus = `${this.base}/status`;
    const client = await connectBroker(this.config, this.ctx, {
      will: { topic: gatewayStatus, payload: "offline", qos: 1, retain: true },
      keepalive: this.config.broker_keepalive,
    });
    const online = () => {
      void client.publishAsync(gatewayStatus, "online", { qos: 1, retain: true }).catch(() => {});
      void client.subscribeAsync(`${this.config.discovery_prefix}/status`).catch(() => {});
    };
    client.on("connect", online);
    if (client.connected) online();
    // Home Assistant asks for discovery again when it restarts (birth message "online").
    client.on("message", (topic, payload) => {
      if (topic === `${this.config.discovery_prefix}/status` && payload.toString() === "online") {
        void this.#announceAll().catch((e) => this.ctx.status.fail(e));
      }
    });
    this.#client = client;
    this.#timer = setInterval(() => void this.#expire(), 1000);
  }

  #publish(messages: [string, string, boolean][]): Promise<void> {
    const out = messages.map(([topic, payload, retain]) => ({ topic, payload, retain }));
    return publishAll(this.#client, out, this.config);
  }

  /** Discovery configs of a device's sensors. */
  discovery(sample: Sample): [string, string, boolean][] {
    const node = objectId(sample.node);
    const tags = sample.tags ?? {};
    const device: Record<string, unknown> = {
      identifiers: [`edge-gateway_${objectId(this.ctx.gatewayId)}_${node}`],
      name: sample.node,
      manufacturer: "Victron Energy",
      model: tags.product ?? "VE.Direct device",
    };
    if (tags.serial) device.serial_number = tags.serial;
    if (tags.firmware) device.sw_version = tags.firmware;
    const out: [string, string, boolean][] = [];
    for (const field of Object.keys(sample.fields)) {
      const spec = sensorFor(field);
      if (!spec) continue;
      const obj = objectId(field);
      const config: Record<string, unknown> = {
        name: spec.name,
        unique_id: `edge_gateway_${objectId(this.ctx.gatewayId)}_${node}_${obj}`,
        object_id: `${node}_${obj}`,
        state_topic: `${this.base}/${node}/state`,
        value_template: `{{ value_json['${field}'] }}`,
        availability: [{ topic: `${this.base}/status` }, {
          topic: this.#availability(sample.node),
        }],
        availability_mode: "all",
        device,
      };
      if (spec.unit) config.unit_of_measurement = spec.unit;
      if (spec.device_class) config.device_class = spec.device_class;
      if (spec.state_class) config.state_class = spec.state_class;
      if (spec.icon) config.icon = spec.icon;
      out.push([
        `${this.config.discovery_prefix}/sensor/${node}/${obj}/config`,
        JSON.stringify(config),
        true,
      ]);
    }
    return out;
  }

  async #announceAll(): Promise<void> {
    await this.#publish([...this.#announced.values()].flatMap((s) => this.discovery(s)));
  }

  async #expire(): Promise<void> {
    // Offline when the source says the device went silent (its stale_after), or when no
    // sample reached this sink within offline_after (a device of a source that does not judge).
    const silent = (this.ctx.staleDevices?.() ?? []).filter((n) => this.#liveness.drop(n));
    const gone = [
      ...silent,
      ...this.#liveness.expire(this.ctx.clock.now(), this.config.offline_after),
    ];
    if (gone.length === 0) return;
    try {
      await this.#publish(gone.map((node) => [this.#availability(node), "offline", true]));
      this.ctx.status.count("devices_offline", gone.length);
    } catch (e) {
      this.ctx.status.fail(e);
    }
  }

  async write(batch: Envelope[]): Promise<void> {
    const messages: [string, string, boolean][] = [];
    const latest = new Map<string, Sample>();
    const stale = new Set(this.ctx.staleDevices?.());
    for (const e of batch) if (e.kind === "sample") latest.set(e.data.node, e.data);
    for (const [node, sample] of latest) {
      const known = this.#announced.get(node);
      const newFields = !known || Object.keys(sample.fields).some((f) => !(f in known.fields));
      if (newFields) messages.push(...this.discovery(sample));
      messages.push([`${this.base}/${objectId(node)}/state`, JSON.stringify(sample.fields), false]);
      if (!stale.has(node) && this.#liveness.seen(node, sample.ts)) {
        messages.push([this.#availability(node), "online", true]);
      }
      if (newFields) {
        this.#announced.set(node, { ...sample, fields: { ...known?.fields, ...sample.fields } });
      }
    }
    await this.#publish(messages);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const client = this.#client;
    this.#client = null;
    if (client) {
      // A message published while disconnected waits in mqtt.js's queue for ever: the stop
      // would hang until stop_timeout. The broker's last will says "offline" then.
      if (client.connected) {
        const sent = client.publishAsync(`${this.base}/status`, "offline", {
          qos: 1,
          retain: true,
        });
        await deadline(sent, CLOSE_WAIT_MS, "the offline status").catch(() => {});
      }
      await closeBroker(client);
    }
  }
}

/** The `homeassistant` sink kind. */
export const homeassistantSink = defineSink({
  type: "homeassistant",
  schema: homeassistantSchema,
  create: (config, ctx) => new HomeAssistantSink(config, ctx),
});
