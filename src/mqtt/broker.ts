import type mqtt from "mqtt";
import { loadMqtt } from "./load.ts";
import { z } from "zod";
import { RetryableError } from "../errors.ts";
import { tlsFields, tlsOptions } from "../tls.ts";
import { type ComponentStatus, errorMessage } from "../status.ts";
import { PacketGuard } from "./packet_guard.ts";
import type { Duplex } from "node:stream";

/**
 * The largest packet a connection takes unless told otherwise: a sink gets keepalives, `W/`
 * writes, Home Assistant's status and acknowledgements, all far smaller.
 */
export const SMALL_PACKETS = 64 * 1024;

/** Broker settings shared by every MQTT source and sink. */
export const brokerFields = {
  url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, "expected mqtt://host:port or mqtts://..."),
  /** Stable client id, so the broker keeps the session across reconnects. */
  client_id: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Keep the session (and QoS 1 in-flight messages) across reconnects. */
  clean: z.boolean().default(false),
  /**
   * MQTT 5 (the default) lets the gateway announce the largest message it takes, so the
   * broker never sends a larger one; 4 (3.1.1) for brokers without MQTT 5.
   */
  protocol_version: z.union([z.literal(4), z.literal(5)]).default(5),
  /** TLS for mqtts:// (CA, client certificate, `insecure`). */
  ...tlsFields,
};

/** Parsed broker settings. */
export interface BrokerConfig {
  url: string;
  client_id?: string;
  username?: string;
  password?: string;
  clean: boolean;
  protocol_version: 4 | 5;
  ca?: string;
  cert?: string;
  key?: string;
  insecure: boolean;
  timeout: number;
}

/**
 * Connects to a broker with automatic reconnects; resolves once connected or
 * after a short wait (writes fail and retry until the broker answers). The
 * client never queues QoS 0 messages while offline: the outbox does.
 */
export async function connectBroker(
  config: BrokerConfig,
  ctx: { name: string; gatewayId: string; status: ComponentStatus },
  options: {
    will?: mqtt.IClientOptions["will"];
    /**
     * Attaches handlers before the connection opens: a persistent session's queued
     * messages can arrive with the CONNACK, before this function returns.
     */
    prepare?: (client: mqtt.MqttClient) => void;
    /**
     * The largest packet the broker may send us: announced as the MQTT 5 Maximum Packet Size
     * and held by the parser for every version ({@link SMALL_PACKETS} by default).
     */
    maxPacketSize?: number;
    /** MQTT keepalive (ms): the broker sends the will after 1.5 times this silence. */
    keepalive?: number;
  } = {},
): Promise<mqtt.MqttClient> {
  // mqtt.js and its dependencies (~35 MiB resident) load only for a gateway that uses MQTT.
  const { connect } = (await loadMqtt()).default;
  const maxPacketSize = options.maxPacketSize ?? SMALL_PACKETS;
  const client = connect(config.url, {
    clientId: clientIdOf(config, ctx),
    username: config.username,
    password: config.password,
    clean: config.clean,
    protocolVersion: config.protocol_version,
    // MQTT 5 ends a session at disconnect unless it is given an expiry: keep it (and the
    // messages queued for it) as MQTT 3.1.1 does with clean: false.
    properties: config.protocol_version === 5
      ? {
        sessionExpiryInterval: config.clean ? 0 : 0xffffffff,
        maximumPacketSize: maxPacketSize,
      }
      : undefined,
    reconnectPeriod: 1000,
    connectTimeout: config.timeout,
    queueQoSZero: false,
    will: options.will,
    keepalive: options.keepalive ? Math.max(1, Math.round(options.keepalive / 1000)) : 60,
    // mqtt.js traces every packet through `debug` (formatting included): a cost per message.
    log: () => {},
    ...tlsOptions(config),
    // The stream is wrapped before the first connection opens.
    manualConnect: true,
  });
  // Every connection's packets pass the guard: MQTT 3.1.1 cannot announce a bound, and a broker
  // that ignores the announced one must not make mqtt.js hold a huge message either.
  const built = client as unknown as { streamBuilder: (c: mqtt.MqttClient) => Duplex };
  const open = built.streamBuilder;
  built.streamBuilder = (c) =>
    new PacketGuard(open(c), {
      max: maxPacketSize,
      onOversize: () => ctx.status.drop("over_max_size"),
    });
  options.prepare?.(client);
  client.connect();
  client.on("error", (e) => ctx.status.lastError = { at: Date.now(), message: e.message });
  client.on("connect", () => {
    ctx.status.info.connected = true;
    // MQTT packets are small (a PUBACK is 4 bytes): without TCP_NODELAY, Nagle's algorithm holds
    // them back and a client that acknowledges one message at a time crawls.
    (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  });
  client.on("close", () => ctx.status.info.connected = false);
  await new Promise<void>((resolve) => {
    const done = () => {
      client.off("connect", done);
      client.off("error", done);
      resolve();
    };
    client.once("connect", done);
    client.once("error", done);
    setTimeout(done, Math.min(config.timeout, 3000));
  });
  return client;
}

/** One message to publish. */
export interface OutgoingMessage {
  topic: string;
  payload: string;
  retain?: boolean;
}

/**
 * Publishes messages and resolves once the broker has all of them (PUBACK
 * with QoS 1). Not connected or failed: a retryable error, so the records
 * stay in the outbox rather than in mqtt.js's memory.
 */
export async function publishAll(
  client: mqtt.MqttClient | null,
  messages: OutgoingMessage[],
  options: { qos: 0 | 1; url: string },
): Promise<void> {
  if (!client?.connected) throw new RetryableError(`MQTT broker ${options.url} is not connected`);
  try {
    await Promise.all(
      messages.map((m) =>
        client.publishAsync(m.topic, m.payload, { qos: options.qos, retain: m.retain ?? false })
      ),
    );
  } catch (e) {
    throw new RetryableError(`MQTT publish to ${options.url} failed: ${errorMessage(e)}`);
  }
}

/** Disconnects without waiting for in-flight messages (the outbox still has them). */
export async function closeBroker(client: mqtt.MqttClient | null): Promise<void> {
  if (client) await client.endAsync(true).catch(() => {});
}

/** The client id a component connects with: its `client_id`, or one made of gateway and name. */
export function clientIdOf(
  config: { client_id?: string },
  ctx: { gatewayId: string; name: string },
): string {
  return config.client_id ?? `edge-gateway-${ctx.gatewayId}-${ctx.name}`;
}
