/**
 * The contract between an MQTT source and the Workers that hold its broker connections
 * (`worker: true`, or `connections: N`): mqtt.js parses packets there; the source gets the
 * messages in batches and says which ones to acknowledge once they are committed.
 */
import type { BrokerConfig } from "../../mqtt/broker.ts";

/** What the Worker connects with (plain data: it crosses by structured clone). */
export interface IngestSetup {
  broker: BrokerConfig;
  name: string;
  gatewayId: string;
  /** Topic filters with their QoS. */
  subscriptions: Record<string, { qos: 0 | 1 }>;
  /**
   * Filters this session may hold from an earlier setting (plain ones when the source now
   * shares them over N connections, shared ones when it no longer does): unsubscribed once the
   * new ones are in place, or a persistent session would get every message twice.
   */
  stale: string[];
  maxPacketSize: number;
  /** `receipt`: the Worker acknowledges on arrival; `commit`: when the source says so. */
  ack: "commit" | "receipt";
  /** Messages are numbered after this one (a restarted Worker goes on from the last). */
  firstSeq?: number;
}

/** One message as the source gets it. */
export interface WireMessage {
  topic: string;
  payload: Uint8Array;
  /** The message's number in this Worker, to acknowledge it (QoS 1, ack: commit). */
  seq?: number;
  /** The broker's packet id (QoS 1) and whether it is a redelivery. */
  id?: number;
  dup: boolean;
}

/**
 * A batch as it crosses: one transferred buffer holding every message (no structured clone
 * of an object per message), topics as numbers into a table both sides keep (`topics` are the
 * ones new in this batch; `reset` empties the table first). Per message, little-endian:
 * u32 topic number, u32 payload length, u32 packet id (0: none), u32 seq (0: none), u8 dup,
 * then the payload.
 */
export interface WireBatch {
  buffer: ArrayBuffer;
  count: number;
  topics: string[];
  reset: boolean;
}

const HEADER = 17;
/** Topics remembered per connection before the table starts again (topics come from outside). */
const MAX_TOPICS = 4096;

/** Packs messages into {@link WireBatch}es (the Worker's side). */
export class BatchPacker {
  #topics = new Map<string, number>();
  #items: WireMessage[] = [];
  #bytes = 0;

  /** Messages waiting to be packed. */
  get size(): number {
    return this.#items.length;
  }

  /** Bytes the waiting messages will take. */
  get bytes(): number {
    return this.#bytes;
  }

  add(m: WireMessage): void {
    this.#items.push(m);
    this.#bytes += HEADER + m.payload.length;
  }

  /** The waiting messages as one batch, and a fresh start. */
  take(): WireBatch {
    // The table starts again between batches once full (it then holds at most MAX_TOPICS
    // plus one batch's topics).
    const reset = this.#topics.size >= MAX_TOPICS;
    if (reset) this.#topics.clear();
    const topics: string[] = [];
    const buffer = new ArrayBuffer(this.#bytes);
    const view = new DataView(buffer);
    const bytes = new Uint8Array(buffer);
    let at = 0;
    for (const m of this.#items) {
      let topic = this.#topics.get(m.topic);
      if (topic === undefined) {
        topic = this.#topics.size;
        this.#topics.set(m.topic, topic);
        topics.push(m.topic);
      }
      view.setUint32(at, topic, true);
      view.setUint32(at + 4, m.payload.length, true);
      view.setUint32(at + 8, m.id ?? 0, true);
      view.setUint32(at + 12, m.seq ?? 0, true);
      view.setUint8(at + 16, m.dup ? 1 : 0);
      bytes.set(m.payload, at + HEADER);
      at += HEADER + m.payload.length;
    }
    const batch = { buffer, count: this.#items.length, topics, reset };
    this.#items = [];
    this.#bytes = 0;
    return batch;
  }
}

/** Unpacks {@link WireBatch}es (the source's side); payloads are views into the batch's buffer. */
export class BatchUnpacker {
  #topics: string[] = [];

  unpack(batch: WireBatch, each: (m: WireMessage) => void): void {
    if (batch.reset) this.#topics = [];
    for (const t of batch.topics) this.#topics.push(t);
    const view = new DataView(batch.buffer);
    let at = 0;
    for (let i = 0; i < batch.count; i++) {
      const len = view.getUint32(at + 4, true);
      const id = view.getUint32(at + 8, true);
      const seq = view.getUint32(at + 12, true);
      each({
        topic: this.#topics[view.getUint32(at, true)],
        payload: new Uint8Array(batch.buffer, at + HEADER, len),
        id: id === 0 ? undefined : id,
        seq: seq === 0 ? undefined : seq,
        dup: view.getUint8(at + 16) === 1,
      });
      at += HEADER + len;
    }
  }
}

/**
 * From the source to the Worker, through the Worker bridge (src/workers/): `init` (connect with an
 * {@link IngestSetup}), `ack` (message numbers), `pause`, `resume`, `close`.
 */
/** From the Worker to the source. */
export type IngestEvent =
  /** The Worker's code is loaded and it begins to connect (the broker's time starts here). */
  | { type: "connecting" }
  | { type: "messages"; batch: WireBatch }
  | { type: "state"; connected: boolean; subscribed?: boolean; error?: string }
  /** Messages the connection dropped (over the packet bound), for the source's counters. */
  | { type: "dropped"; reason: string; n: number };
