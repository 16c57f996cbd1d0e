/**
 * A Worker of an MQTT source (`worker: true`, or one of `connections: N`): it holds a broker
 * connection, lets mqtt.js parse packets off the main thread, hands messages over in batches
 * and sends the PUBACKs the source releases (see ingest_messages.ts).
 */
import { ComponentStatus } from "../../status.ts";
import { emit, serveBridge } from "../../workers/serve.ts";
import type { MessageTaker } from "./client_reader.ts";
import { openSession, type Session } from "./session.ts";
import {
  BatchPacker,
  type IngestEvent,
  type IngestSetup,
  type WireMessage,
} from "./ingest_messages.ts";

let session: Session | null = null;
let paused = false;
const waiting: (() => void)[] = [];
/** Releases of held PUBACKs by message number (bounded by what the source holds back). */
const releases = new Map<number, () => void>();
let seq = 0;
const packer = new BatchPacker();

function post(event: IngestEvent, transfer: Transferable[] = []): void {
  emit(event, transfer);
}

/** How long a message waits in the Worker for others to cross with it, and most per batch. */
const LINGER_MS = 10;
const LINGER_MAX = 2000;
const LINGER_BYTES = 1024 * 1024;
let lingering: ReturnType<typeof setTimeout> | undefined;

function flush(): void {
  clearTimeout(lingering);
  if (packer.size === 0) return;
  const batch = packer.take();
  post({ type: "messages", batch }, [batch.buffer]);
}

async function connect(setup: IngestSetup): Promise<void> {
  seq = setup.firstSeq ?? 0;
  const status = new ComponentStatus(setup.name, "mqtt");
  // What the connection drops (oversized messages) is counted by the source, on its thread.
  status.drop = (reason, n = 1) => post({ type: "dropped", reason, n });
  const taker: MessageTaker = {
    onMessage: (m) => {
      // Copied into the batch's one buffer when the batch is packed.
      const item: WireMessage = { topic: m.topic, payload: m.payload, id: m.id, dup: m.dup };
      if (m.id !== undefined) {
        if (setup.ack === "receipt") m.release();
        else {
          // 32 bits on the wire (0: none): the numbers wrap, as the ones in `releases` do.
          item.seq = seq = seq >= 0xffff_ffff ? 1 : seq + 1;
          releases.set(item.seq, m.release);
        }
      }
      packer.add(item);
      // A batch lingers a little: the source commits once per batch it is handed, and a
      // Worker that posted every socket read would make it commit a few messages at a time.
      if (packer.size >= LINGER_MAX || packer.bytes >= LINGER_BYTES) flush();
      else if (packer.size === 1) lingering = setTimeout(flush, LINGER_MS);
    },
    // While the source is full, mqtt.js reads no further packet (TCP back-pressure).
    full: () => paused,
    room: () => new Promise((resolve) => waiting.push(resolve)),
    status,
  };
  session = await openSession({
    broker: setup.broker,
    place: setup,
    taker,
    conn: 0,
    qos: 1, // every QoS 1 message comes with a packet id whose PUBACK is held (QoS 0 has none)
    maxPacketSize: setup.maxPacketSize,
    subscriptions: setup.subscriptions,
    stale: setup.stale,
    onState: (state) => {
      // PUBACKs of a closed connection are never sent (the broker redelivers).
      if (!state.connected) releases.clear();
      post({ type: "state", ...state });
    },
  });
}

function resume(): void {
  paused = false;
  for (const done of waiting.splice(0)) done();
}

// The calls of the source's IngestLink, through the Worker bridge; `init` connects and answers
// once the connection said its first word (or throws: the link's start fails). Not one at a
// time: an ack or a pause never waits behind a connect.
serveBridge({
  init(setup: IngestSetup) {
    post({ type: "connecting" }); // loaded: the link's wait for the broker starts now
    return connect(setup);
  },
  ack(seqs: number[]) {
    for (const s of seqs) {
      releases.get(s)?.();
      releases.delete(s);
    }
  },
  pause() {
    paused = true;
  },
  resume,
  async close() {
    resume();
    await session?.close();
    session = null;
  },
});
