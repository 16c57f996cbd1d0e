/**
 * A bound on what an MQTT connection parses, for every protocol version. mqtt.js reads a whole
 * packet into memory before it looks at its size (a retained 150 MiB message ran the process out
 * of memory at every start), and MQTT 3.1.1 has no Maximum Packet Size to tell the broker. This
 * stream sits between the socket and mqtt.js and reads only fixed headers: a PUBLISH over the
 * bound is skipped as it streams past (never held), acknowledged here when it is QoS 1 so the
 * broker does not send it again, and counted; any other packet over the bound closes the
 * connection.
 */
import { Duplex } from "node:stream";

/** What the guard reports of a message it skipped. */
export interface Oversize {
  /** The whole packet's size in bytes. */
  size: number;
  qos: number;
}

/** A packet header being read: its bytes so far. */
class Header {
  bytes: number[] = [];

  /** The remaining length once the header is complete, null while more bytes are needed. */
  add(byte: number): number | null {
    this.bytes.push(byte);
    if (this.bytes.length === 1 || (byte & 0x80) !== 0) {
      if (this.bytes.length === 5) throw new Error("malformed MQTT remaining length");
      return null;
    }
    let length = 0;
    for (let k = this.bytes.length - 1; k >= 1; k--) length = length * 128 + (this.bytes[k] & 0x7f);
    return length;
  }
}

/** A socket's stream with the incoming packets bounded (see the module comment). */
export class PacketGuard extends Duplex {
  #inner: Duplex;
  #max: number;
  #onOversize: (o: Oversize) => void;
  /** Incoming: the header being read, bytes left of the current packet, and how they go. */
  #header = new Header();
  #carried = 0;
  #left = 0;
  #skip: { qos: number; at: number; topicLength: number; id: number } | null = null;
  /** Outgoing (mqtt.js writes a packet in pieces): PUBACKs go in between whole packets. */
  #outHeader = new Header();
  #outLeft = 0;
  #acks: Uint8Array[] = [];

  constructor(inner: Duplex, options: { max: number; onOversize: (o: Oversize) => void }) {
    // A socket read is up to 64 KiB: with the default 16 KiB mark every read would pause it.
    super({ readableHighWaterMark: 256 * 1024 });
    this.#inner = inner;
    this.#max = options.max;
    this.#onOversize = options.onOversize;
    inner.on("data", (chunk: Uint8Array) => {
      let pieces: Uint8Array[];
      try {
        pieces = this.#take(chunk);
      } catch (e) {
        return void this.destroy(e as Error);
      }
      for (const p of pieces) if (p.length > 0 && !this.push(p)) inner.pause();
    });
    inner.on("end", () => this.push(null));
    inner.on("error", (e) => this.destroy(e));
    inner.on("close", () => this.destroy());
  }

  /** Forwards TCP_NODELAY to the socket. */
  setNoDelay(on: boolean): void {
    (this.#inner as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(on);
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Uint8Array, _enc: string, done: (e?: Error | null) => void): void {
    this.#send([chunk], done);
  }

  override _writev(
    chunks: { chunk: Uint8Array }[],
    done: (e?: Error | null) => void,
  ): void {
    this.#send(chunks.map((c) => c.chunk), done);
  }

  /**
   * Passes mqtt.js's writes to the socket, done at once unless the socket asks to wait (waiting
   * for each write's own callback would cost an event-loop turn per PUBACK).
   */
  #send(chunks: Uint8Array[], done: (e?: Error | null) => void): void {
    const inner = this.#inner;
    let room = true;
    inner.cork();
    for (const chunk of chunks) {
      let i = 0;
      if (this.#acks.length > 0) {
        // Pending PUBACKs go after the packet being written (its pieces must stay together).
        while (i < chunk.length && !this.#outIdle) i = this.#outByte(chunk, i) + 1;
        if (this.#outIdle) {
          if (i > 0) inner.write(chunk.subarray(0, i));
          this.#flushAcks();
        }
      }
      if (i < chunk.length) room = inner.write(i > 0 ? chunk.subarray(i) : chunk);
      // The rest is tracked too: a packet it starts may end in a later piece.
      for (let k = i; k < chunk.length; k++) k = this.#outByte(chunk, k);
    }
    inner.uncork();
    if (room) done();
    else inner.once("drain", () => done());
  }

  /** Whether no outgoing packet is half written. */
  get #outIdle(): boolean {
    return this.#outLeft === 0 && this.#outHeader.bytes.length === 0;
  }

  /** Tracks one outgoing byte (or the run of body bytes from `i`); returns the last index. */
  #outByte(chunk: Uint8Array, i: number): number {
    if (this.#outLeft > 0) {
      const n = Math.min(this.#outLeft, chunk.length - i);
      this.#outLeft -= n;
      return i + n - 1;
    }
    const length = this.#outHeader.add(chunk[i]);
    if (length !== null) {
      this.#outHeader = new Header();
      this.#outLeft = length;
    }
    return i;
  }

  #flushAcks(): void {
    for (const ack of this.#acks.splice(0)) this.#inner.write(ack);
  }

  override _final(done: (e?: Error | null) => void): void {
    this.#inner.end(() => done());
  }

  override _destroy(e: Error | null, done: (e?: Error | null) => void): void {
    this.#inner.destroy();
    done(e);
  }

  /** The parts of `chunk` mqtt.js gets: everything but skipped packets (and headers not whole). */
  #take(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let start = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.#left > 0) {
        const n = Math.min(this.#left, chunk.length - i);
        if (this.#skip) this.#skipped(chunk, i, n);
        i += n;
        this.#left -= n;
        if (this.#skip) start = i;
        if (this.#left === 0 && this.#skip) this.#skipDone();
        continue;
      }
      const length = this.#header.add(chunk[i++]);
      if (length === null) continue;
      const header = this.#header.bytes;
      this.#header = new Header();
      const size = header.length + length;
      if (size <= this.#max) {
        // Header bytes held back from an earlier chunk go first.
        if (this.#carried > 0) out.push(Uint8Array.from(header.slice(0, this.#carried)));
        this.#carried = 0;
        this.#left = length;
        continue;
      }
      const type = header[0] >> 4;
      if (type !== 3) {
        throw Object.assign(
          new Error(
            `the broker sent a ${size}-byte packet (type ${type}); the bound is ${this.#max}`,
          ),
          { code: "ERR_MQTT_PACKET_TOO_LARGE" },
        );
      }
      // Forward what came before this packet's header; drop the header and the body.
      out.push(chunk.subarray(start, i - (header.length - this.#carried)));
      this.#carried = 0;
      start = i;
      const qos = (header[0] >> 1) & 3;
      this.#skip = { qos, at: 0, topicLength: 0, id: 0 };
      this.#onOversize({ size, qos });
      this.#left = length;
      if (length === 0) this.#skipDone();
    }
    // A header cut by the chunk's end is held until it is whole.
    const held = this.#header.bytes.length - this.#carried;
    out.push(chunk.subarray(start, chunk.length - held));
    this.#carried = this.#header.bytes.length;
    return out;
  }

  /** Reads what a skipped QoS 1 PUBLISH's acknowledgement needs: its packet id. */
  #skipped(chunk: Uint8Array, i: number, n: number): void {
    const s = this.#skip!;
    if (s.qos === 0) return;
    for (let k = 0; k < n && s.at < s.topicLength + 4; k++, s.at++) {
      const b = chunk[i + k];
      if (s.at < 2) s.topicLength = s.topicLength * 256 + b;
      else if (s.at >= s.topicLength + 2) s.id = s.id * 256 + b;
    }
  }

  #skipDone(): void {
    const s = this.#skip!;
    this.#skip = null;
    if (s.qos === 0) return;
    if (s.qos === 2) {
      // The gateway subscribes with QoS 0 or 1, so a broker never sends QoS 2 to it.
      return void this.destroy(Object.assign(new Error("an oversized QoS 2 message"), {
        code: "ERR_MQTT_PACKET_TOO_LARGE",
      }));
    }
    this.#acks.push(Uint8Array.of(0x40, 2, s.id >> 8, s.id & 0xff));
    if (this.#outIdle) this.#flushAcks();
  }
}
