import type mqtt from "mqtt";

interface AckPacket {
  cmd: string;
  messageId?: number;
}

type SendPacket = (packet: AckPacket, cb?: (error?: Error) => void, ...rest: unknown[]) => void;

/**
 * PUBACKs sent when the gateway says so, many at a time. mqtt.js acknowledges
 * a QoS 1 message when its handlers return and parses the next message only
 * after that: acknowledging after a durable commit meant one commit per
 * message, and every PUBACK was a write (and a TCP segment for the broker to
 * read) of its own. Here mqtt.js carries on at once, the PUBACK waits until
 * it is released, and the released ones go out together in one write.
 * A PUBACK held across a reconnect is never sent: its packet id may name
 * another message by then, and the broker redelivers the original anyway.
 */
export class HeldAcks {
  /** Ids mqtt.js will send a PUBACK for, not released yet. */
  #held = new Set<number>();
  /** Ids released before mqtt.js sent their PUBACK. */
  #released = new Set<number>();
  /** PUBACKs mqtt.js sent that wait for their release. */
  #waiting = new Map<number, AckPacket>();
  #outgoing: AckPacket[] = [];
  #generation = 0;
  readonly #send: SendPacket;

  constructor(readonly client: mqtt.MqttClient) {
    const c = client as unknown as { _sendPacket: SendPacket };
    this.#send = c._sendPacket.bind(client);
    c._sendPacket = (packet, cb, ...rest) => {
      const id = packet.messageId;
      if (packet.cmd !== "puback" || id === undefined) return this.#send(packet, cb, ...rest);
      if (this.#released.delete(id)) this.#queue(packet);
      else if (this.#held.delete(id)) this.#waiting.set(id, packet);
      else return this.#send(packet, cb, ...rest);
      cb?.();
    };
    client.on("close", () => {
      this.#generation++;
      this.#held.clear();
      this.#released.clear();
      this.#waiting.clear();
      this.#outgoing = [];
    });
  }

  /** PUBACKs held and not released yet (messages taken but not yet committed). */
  get unreleased(): number {
    return this.#held.size + this.#waiting.size;
  }

  /** Holds the PUBACK of message `id`; call the returned function to let it go. */
  hold(id: number): () => void {
    this.#held.add(id);
    const generation = this.#generation;
    return () => {
      if (generation !== this.#generation) return;
      const packet = this.#waiting.get(id);
      if (packet) {
        this.#waiting.delete(id);
        this.#queue(packet);
      } else if (this.#held.delete(id)) this.#released.add(id);
    };
  }

  #queue(packet: AckPacket): void {
    this.#outgoing.push(packet);
    // Everything released until the current work is done goes out in one write.
    if (this.#outgoing.length === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const packets = this.#outgoing;
    this.#outgoing = [];
    const stream = this.client.stream;
    stream?.cork();
    try {
      for (const p of packets) this.#send(p);
    } finally {
      stream?.uncork();
    }
  }
}
