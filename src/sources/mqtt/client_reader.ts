/** Messages read from an mqtt.js client on this thread: PUBACKs held, reading paused when full. */
import type mqtt from "mqtt";
import { HeldAcks } from "./held_acks.ts";
import type { ComponentStatus } from "../../status.ts";

/** A message as the source takes it. */
export interface InboxMessage {
  topic: string;
  payload: Uint8Array;
  /** The broker's packet id (QoS 1), and whether the broker says it is a redelivery. */
  id?: number;
  /** Which connection it came on (packet ids are per connection). */
  conn: number;
  dup: boolean;
  /** Lets its PUBACK go (QoS 1; a no-op otherwise or when already acknowledged on receipt). */
  release(): void;
}

/** Where the messages go, and whether it can take more. */
export interface MessageTaker {
  onMessage(message: InboxMessage): void;
  /** Whether the source holds as much as it may; `room` resolves when it can take more. */
  full(): boolean;
  room(): Promise<void>;
  status: ComponentStatus;
}

const NOTHING = () => {};

/**
 * Hands the messages of `client` (connection number `conn`) to `taker`; call it in the client's
 * `prepare`, before the connection opens (queued messages come at once). Returns the held
 * PUBACKs (QoS 1), or null.
 */
export function readClient(
  client: mqtt.MqttClient,
  taker: MessageTaker,
  options: { conn: number; qos: 0 | 1 },
): HeldAcks | null {
  const acks = options.qos === 1 ? new HeldAcks(client) : null;
  const conn = options.conn;
  client.on("message", (topic, payload, packet) => {
    const id = packet.qos > 0 ? packet.messageId : undefined;
    const release = acks && id !== undefined ? acks.hold(id) : NOTHING;
    taker.onMessage({ topic, payload, id, conn, dup: packet.dup, release });
  });
  // Back-pressure: while too much waits, mqtt.js reads no further message.
  let yielded = performance.now();
  client.handleMessage = (_packet, done) => {
    const t = performance.now();
    if (t - yielded > 10) {
      yielded = t;
      return void setTimeout(done, 0);
    }
    if (!taker.full()) return done();
    taker.status.count("paused");
    taker.room().then(() => done(), done);
  };
  return acks;
}
