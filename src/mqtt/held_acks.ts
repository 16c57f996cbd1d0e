import type mqtt from "mqtt";

interface AckPacket {
  cmd: string;
  messageId?: number;
}

type SendPacket = (packet: AckPacket, cb?: (error?: Error) => void, ...rest: unknown[]) => void;

/**
 * PUBACKs that wait until their messages are stored. mqtt.js acknowledges a
 * QoS 1 message when its handlers return and parses the next message only
 * after that, so acknowledging after a durable commit meant one commit per
 * message. Holding the PUBACK instead (mqtt.js carries on at once) lets one
 * commit cover every message that arrived meanwhile. A PUBACK held across a
 * reconnect is never sent: its packet id may name another message by then, and
 * the broker redelivers the original anyway.
 */
export class HeldAcks {
  /** Message ids whose PUBACK is to be held when mqtt.js sends it. */
  #hold = new Set<number>();
  /** PUBACKs mqtt.js sent that wait for their release. */
  #waiting = new Map<number, AckPacket>();
  #generation = 0;
  readonly #send: SendPacket;

  constructor(client: mqtt.MqttClient) {
    const c = client as unknown as { _sendPacket: SendPacket };
    this.#send = c._sendPacket.bind(client);
    c._sendPacket = (packet, cb, ...rest) => {
      const id = packet.messageId;
      if (packet.cmd === "puback" && id !== undefined && this.#hold.delete(id)) {
        this.#waiting.set(id, packet);
        cb?.();
        return;
      }
      this.#send(packet, cb, ...rest);
    };
    client.on("close", () => {
      this.#generation++;
      this.#hold.clear();
      this.#waiting.clear();
    });
  }

  /** Holds the PUBACK of message `id`; call the returned function once it is stored. */
  hold(id: number): () => void {
    this.#hold.add(id);
    const generation = this.#generation;
    return () => {
      if (generation !== this.#generation) return;
      const packet = this.#waiting.get(id);
      if (packet) {
        this.#waiting.delete(id);
        this.#send(packet);
      } else this.#hold.delete(id); // released before mqtt.js sent it: let it through
    };
  }

  /** PUBACKs waiting for their messages to be stored. */
  get waiting(): number {
    return this.#waiting.size + this.#hold.size;
  }
}
