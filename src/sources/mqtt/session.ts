/**
 * One broker session of the MQTT source, opened the same way wherever it runs (on the main
 * thread, in an ingest Worker, or to empty a session a lower N took away): connect, read (each
 * message to the source, its PUBACK held), subscribe (then drop the filters an earlier setting
 * left), and report the state at every change.
 */
import type mqtt from "mqtt";
import { type BrokerConfig, connectBroker } from "../../mqtt/broker.ts";
import { errorMessage } from "../../status.ts";
import { type MessageTaker, readClient } from "./client_reader.ts";
import type { HeldAcks } from "./held_acks.ts";

/** What a session reports: connected or not; subscribed or not (after a try); what failed. */
export interface SessionState {
  connected: boolean;
  /** Set after a subscription: true once the filters are in place, false when that failed. */
  subscribed?: boolean;
  error?: string;
}

/** Options of {@link openSession}. */
export interface SessionOptions {
  /** The broker settings; `client_id` names the session (else one of gateway and source). */
  broker: BrokerConfig;
  /** The source the session belongs to. */
  place: { name: string; gatewayId: string };
  /** Where the messages go; its status counts what the connection drops. */
  taker: MessageTaker;
  /** The connection's number (packet ids are per connection). */
  conn: number;
  /** 1: every message has a packet id whose PUBACK is held until released. */
  qos: 0 | 1;
  /** The largest packet the broker may send (announced, and held by the packet guard). */
  maxPacketSize: number;
  /** Filters to subscribe to; none for a session that only leaves `stale` (retiring). */
  subscriptions: Record<string, { qos: 0 | 1 }>;
  /** Filters an earlier setting may have left in the session: unsubscribed after the new ones. */
  stale: string[];
  onState(state: SessionState): void;
}

/** An open session. */
export interface Session {
  readonly client: mqtt.MqttClient;
  /** The PUBACKs held (QoS 1), or null. */
  readonly acks: HeldAcks | null;
  /** The last state reported. */
  readonly state: SessionState;
  /** Ends the connection (held PUBACKs are never sent: the broker redelivers). */
  close(): Promise<void>;
}

/**
 * Connects, reads, subscribes, and reports; resolves after the first subscription (or, not
 * connected yet, at once: the client keeps trying and subscribes on every connection).
 */
export async function openSession(options: SessionOptions): Promise<Session> {
  const { taker } = options;
  let acks: HeldAcks | null = null;
  const client = await connectBroker(options.broker, { ...options.place, status: taker.status }, {
    maxPacketSize: options.maxPacketSize,
    // Before the connection opens: a persistent session's queued messages come at once.
    prepare: (c) => acks = readClient(c, taker, { conn: options.conn, qos: options.qos }),
  });
  let state: SessionState = { connected: false };
  const report = (s: SessionState) => {
    state = s;
    options.onState(s);
  };
  const subscribe = () =>
    subscribeReplacing(client, options).then(
      () => report({ connected: true, subscribed: true }),
      (e) => report({ connected: client.connected, subscribed: false, error: errorMessage(e) }),
    );
  client.on("connect", () => void subscribe());
  client.on("close", () => report({ connected: false }));
  client.on("error", (e) => report({ connected: client.connected, error: e.message }));
  if (client.connected) await subscribe();
  else report({ connected: false, error: taker.status.lastError?.message });
  return {
    client,
    acks,
    get state() {
      return state;
    },
    close: () => client.endAsync().catch(() => {}),
  };
}

/**
 * Subscribes, then drops filters an earlier setting left in a persistent session. In this order
 * a message published in between may come twice (once per filter), never not at all. A session
 * with nothing to subscribe is there to leave its filters: for it a failed unsubscribe fails.
 */
async function subscribeReplacing(
  client: mqtt.MqttClient,
  options: Pick<SessionOptions, "subscriptions" | "stale">,
): Promise<void> {
  const leaving = Object.keys(options.subscriptions).length === 0;
  if (!leaving) await client.subscribeAsync(options.subscriptions);
  if (options.stale.length === 0) return;
  const dropped = client.unsubscribeAsync(options.stale);
  await (leaving ? dropped : dropped.catch(() => {}));
}
