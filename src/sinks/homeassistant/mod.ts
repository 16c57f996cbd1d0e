import type mqtt from "mqtt";
import { z } from "zod";
import { duration } from "../../config_values.ts";
import type { Envelope, GatewayEvent, Sample } from "../../model.ts";
import { Liveness } from "../liveness.ts";
import { brokerFields, closeBroker, connectBroker, publishAll } from "../../mqtt/broker.ts";
import { defineSink, deliveryFields, type Sink, type SinkContext } from "../../plugin.ts";
import { LruMap } from "../../util/lru.ts";
import { deadline } from "../../util/timing.ts";
import { MAX_DEVICES } from "../liveness.ts";
import { sensorFor } from "./sensors.ts";
import { WritePolicy, writesSchema } from "../../mqtt/write_policy.ts";
import { DeviceWrites } from "../../mqtt/device_writes.ts";
import { type DeviceControls, HomeAssistantCommands } from "./commands.ts";
import { controlsFor, settingValues } from "./controls.ts";
import {
  controlDiscovery,
  deviceBlock,
  type Discovered,
  type Message,
  objectId,
  showResult,
} from "./entities.ts";

/** A device whose settings could not be read (not identified yet, busy) is asked again after this. */
const RETRY_READ_MS = 30_000;

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
  /**
   * Writable entities (switch, select, number) for the settings the sources' `writable` allows:
   * off unless enabled, then commands are taken only from the broker user `from` that the
   * broker's ACL lets publish `<base_topic>/<gateway>/set/#` (checked at each connection).
   */
  writes: writesSchema,
  /** How long a change that stops charging or cuts a load waits for its confirmation button. */
  confirm_within: duration.default(60_000),
});

/** Parsed Home Assistant sink config. */
export type HomeAssistantConfig = z.output<typeof homeassistantSchema>;

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
  /** Devices with writable entities, by object id (bounded as #announced). */
  #controls = new LruMap<string, DeviceControls>(MAX_DEVICES);
  /** When each device's settings were last asked for (monotonic ms; bounded as #controls). */
  #readAt = new LruMap<string, number>(MAX_DEVICES);
  readonly #policy: WritePolicy;
  readonly #writes: DeviceWrites;
  readonly #commands: HomeAssistantCommands;

  constructor(readonly config: HomeAssistantConfig, readonly ctx: SinkContext) {
    this.base = `${config.base_topic}/${objectId(ctx.gatewayId)}`;
    this.#policy = new WritePolicy(config.writes, {
      log: ctx.log,
      topic: `${this.base}/set/#`,
      acl: `src/sinks/homeassistant/README.md, "A worked example: mosquitto on the gateway's Pi"`,
    });
    this.#writes = new DeviceWrites({
      policy: this.#policy,
      now: () => ctx.clock.now(),
      settings: ctx.settings,
      status: ctx.status,
      log: ctx.log,
    });
    this.#commands = new HomeAssistantCommands({
      writes: this.#writes,
      prefix: `${this.base}/set/`,
      confirmWithin: config.confirm_within,
      monotonic: () => ctx.clock.monotonic?.() ?? performance.now(),
      device: (obj) => this.#controls.get(obj),
      show: (device, result) => this.#publish(showResult(this.#at(device.node), device, result)),
      reread: (device) => this.#readControls(device.node),
      status: ctx.status,
    });
  }

  #at(node: string): { base: string; obj: string } {
    return { base: this.base, obj: objectId(node) };
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
    const commands = `${this.base}/set/`;
    const writes = this.config.writes.enabled;
    const online = () => {
      void client.publishAsync(gatewayStatus, "online", { qos: 1, retain: true }).catch(() => {});
      void client.subscribeAsync(`${this.config.discovery_prefix}/status`).catch(() => {});
      // Once subscribed to the command topics, the broker's ACL is checked (writes wait for it).
      if (writes) {
        void client.subscribeAsync(`${commands}#`)
          .then(() => this.#policy.verify(this.config, { ...this.ctx, prefix: commands }))
          .then(() => this.#showWrites())
          .catch((e) => this.ctx.status.fail(e));
      }
    };
    client.on("connect", online);
    if (client.connected) online();
    // Home Assistant asks for discovery again when it restarts (birth message "online").
    client.on("message", (topic, payload, packet) => {
      const text = payload.toString();
      if (topic === `${this.config.discovery_prefix}/status` && text === "online") {
        void this.#announceAll().catch((e) => this.ctx.status.fail(e));
      } else if (this.#policy.isProbe(topic, text)) return;
      else if (writes && topic.startsWith(commands)) {
        this.#commands.take(topic, text, { retained: packet.retain });
      }
    });
    this.#client = client;
    if (writes) this.#showWrites();
    this.#timer = setInterval(() => void this.#expire(), 1000);
  }

  /** Whether commands are taken, in /status. */
  #showWrites(): void {
    this.ctx.status.info.writes = this.#policy.refusal === null
      ? `taken from mqtt user ${this.config.writes.from}`
      : `refused: ${this.#policy.refusal}`;
  }

  /** Whether a device's settings are to be read now: never read, or the last read failed. */
  #wantsControls(node: string): boolean {
    if (!this.config.writes.enabled || this.#controls.has(objectId(node))) return false;
    const now = this.ctx.clock.monotonic?.() ?? performance.now();
    const last = this.#readAt.get(node);
    if (last !== undefined && now - last < RETRY_READ_MS) return false;
    this.#readAt.set(node, now);
    return true;
  }

  /**
   * Reads a device's settings and announces an entity for each one its source lets be written,
   * with what it holds (again after a battery type change: the voltages' safe ranges move).
   */
  async #readControls(node: string): Promise<void> {
    const sample = this.#announced.get(node);
    if (!this.config.writes.enabled || !this.ctx.settings || !sample) return;
    try {
      const report = await this.ctx.settings.read(node);
      const obj = objectId(node);
      const known = this.#controls.get(obj);
      const device: DeviceControls = {
        node,
        controls: controlsFor(report),
        values: settingValues(report),
        pending: known?.pending,
      };
      this.#controls.set(obj, device);
      await this.#publish([
        ...this.#controlConfigs(sample, device),
        ...showResult(this.#at(node), device),
      ]);
    } catch (e) {
      this.ctx.log.debug("settings not read for Home Assistant", { node, error: String(e) });
    }
  }

  #controlConfigs(sample: Sample, device: DeviceControls): Message[] {
    const d: Discovered = {
      discoveryPrefix: this.config.discovery_prefix,
      base: this.base,
      gateway: objectId(this.ctx.gatewayId),
      obj: objectId(sample.node),
      availability: this.#availabilityOf(sample.node),
      device: deviceBlock(sample, this.ctx.gatewayId),
    };
    return controlDiscovery(d, device);
  }

  #availabilityOf(node: string): unknown[] {
    return [{ topic: `${this.base}/status` }, { topic: this.#availability(node) }];
  }

  /** A change made through another path (the API, a Venus W/): its audit event, when forwarded. */
  #changedElsewhere(event: GatewayEvent): Message[] {
    const device = event.node ? this.#controls.get(objectId(event.node)) : undefined;
    const { setting, new: held } = event.data;
    if (!device || typeof setting !== "string") return [];
    if (typeof held !== "number" && typeof held !== "string") return [];
    device.values[setting] = held;
    return showResult(this.#at(device.node), device);
  }

  #publish(messages: [string, string, boolean][]): Promise<void> {
    const out = messages.map(([topic, payload, retain]) => ({ topic, payload, retain }));
    return publishAll(this.#client, out, this.config);
  }

  /** Discovery configs of a device's sensors. */
  discovery(sample: Sample): [string, string, boolean][] {
    const node = objectId(sample.node);
    const device = deviceBlock(sample, this.ctx.gatewayId);
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
        availability: this.#availabilityOf(sample.node),
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
    // Writable entities with what the devices hold now (a change made meanwhile elsewhere:
    // VictronConnect, the API), read again one device after another.
    for (const device of [...this.#controls.values()]) await this.#readControls(device.node);
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
    const fresh: string[] = [];
    for (const e of batch) {
      if (e.kind === "sample") latest.set(e.data.node, e.data);
      else if (e.kind === "event" && e.data.type === "setting_changed") {
        messages.push(...this.#changedElsewhere(e.data));
      }
    }
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
      if (this.#wantsControls(node)) fresh.push(node);
    }
    await this.#publish(messages);
    // A device seen for the first time (or whose settings could not be read): its settings.
    for (const node of fresh) void this.#readControls(node);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await deadline(this.#writes.settled(), CLOSE_WAIT_MS, "the commands").catch(() => {});
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
