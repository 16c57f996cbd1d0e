/**
 * Publishes MQTT messages as fast as the broker takes them, in its own process
 * so the publisher does not share the gateway's event loop:
 * `publisher.ts URL COUNT NODES [QOS] [TOPIC]` (numbers, on TOPIC with `{node}` replaced;
 * pepeunit/{node}/pepeunit by default). MQTT 3.1.1 packets are written straight to the
 * socket in large chunks, QoS 1 with many messages in flight: a client library
 * sending one packet per write (mqtt.js: ~23k messages/s here) would measure
 * itself, not the broker or the gateway.
 */

/** Starts this script as a child process publishing `count` messages over `nodes` nodes. */
export function spawnPublisher(
  url: string,
  count: number,
  nodes: number,
  options: { qos?: 0 | 1; topic?: string } = {},
): Deno.ChildProcess {
  const args = [
    "run",
    "-A",
    new URL(import.meta.url).pathname,
    url,
    String(count),
    String(nodes),
    String(options.qos ?? 1),
    options.topic ?? "pepeunit/{node}/pepeunit",
  ];
  return new Deno.Command(Deno.execPath(), { args }).spawn();
}

const enc = new TextEncoder();

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function packet(type: number, body: Uint8Array): Uint8Array {
  const head = [type, ...remainingLength(body.length)];
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

function connectPacket(clientId: string): Uint8Array {
  const id = enc.encode(clientId);
  const body = new Uint8Array(12 + id.length);
  body.set([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, id.length >> 8, id.length & 0xff]);
  body.set(id, 12);
  return packet(0x10, body);
}

function publishPacket(topic: string, payload: string, qos: 0 | 1, id: number): Uint8Array {
  const t = enc.encode(topic);
  const p = enc.encode(payload);
  const body = new Uint8Array(2 + t.length + (qos ? 2 : 0) + p.length);
  body.set([t.length >> 8, t.length & 0xff]);
  body.set(t, 2);
  let at = 2 + t.length;
  if (qos) {
    body.set([id >> 8, id & 0xff], at);
    at += 2;
  }
  body.set(p, at);
  return packet(qos ? 0x32 : 0x30, body);
}

/** Reads the socket, counting PUBACKs (QoS 1: 0x40 0x02 id id). */
async function countAcks(conn: Deno.Conn, onAck: () => void): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  let carry = new Uint8Array(0);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    const data = new Uint8Array(carry.length + n);
    data.set(carry);
    data.set(buf.subarray(0, n), carry.length);
    let at = 0;
    while (at + 2 <= data.length) {
      const len = data[at + 1];
      if (at + 2 + len > data.length) break;
      if (data[at] >> 4 === 4) onAck();
      at += 2 + len;
    }
    carry = data.slice(at);
  }
}

async function publish(
  url: string,
  count: number,
  nodes: number,
  options: { qos: 0 | 1; topic: string },
): Promise<void> {
  const qos = options.qos;
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port || 1883) });
  conn.setNoDelay(true);
  await conn.write(connectPacket(`bench-publisher-${Deno.pid}`));
  const connack = new Uint8Array(4);
  await conn.read(connack);
  let acked = 0;
  let wake: (() => void) | null = null;
  const reading = countAcks(conn, () => {
    acked++;
    wake?.();
  });
  // Node ids in UUID form (pepeunit's); a topic per node is built when first used.
  const topics: string[] = [];
  const topicOf = (n: number) =>
    topics[n] ??= options.topic.replace(
      "{node}",
      `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    );
  const CHUNK = 2000;
  // Packet ids are 16 bits: never more in flight than there are ids.
  const MAX_IN_FLIGHT = 60_000;
  for (let i = 0; i < count; i += CHUNK) {
    while (qos === 1 && i - acked > MAX_IN_FLIGHT) {
      await new Promise<void>((r) => wake = r);
      wake = null;
    }
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let j = i; j < Math.min(i + CHUNK, count); j++) {
      const p = publishPacket(topicOf(j % nodes), String(j % 1000 / 10), qos, (j % 65535) + 1);
      parts.push(p);
      size += p.length;
    }
    const chunk = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      chunk.set(p, at);
      at += p.length;
    }
    for (let off = 0; off < chunk.length;) off += await conn.write(chunk.subarray(off));
  }
  while (qos === 1 && acked < count) {
    await new Promise<void>((r) => wake = r);
    wake = null;
  }
  await conn.write(new Uint8Array([0xe0, 0])); // DISCONNECT
  conn.close();
  await reading.catch(() => {});
}

if (import.meta.main) {
  const [url, count, nodes, qos, topic] = Deno.args;
  await publish(url, Number(count), Number(nodes), {
    qos: qos === "0" ? 0 : 1,
    topic: topic ?? "pepeunit/{node}/pepeunit",
  });
}
