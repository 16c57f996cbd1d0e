/**
 * The packet guard on a real TCP connection to a fixture "broker" that sends raw MQTT bytes in
 * awkward pieces: headers cut across reads, an oversized QoS 1 PUBLISH between small ones.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { PacketGuard } from "../../src/mqtt/packet_guard.ts";
import { waitFor } from "../helpers/servers.ts";

/** A PUBLISH packet (MQTT 3.1.1) with `body` bytes of payload. */
function publish(topic: string, payload: number, options: { qos?: number; id?: number } = {}) {
  const qos = options.qos ?? 0;
  const t = new TextEncoder().encode(topic);
  const variable = [t.length >> 8, t.length & 0xff, ...t];
  if (qos > 0) variable.push((options.id ?? 1) >> 8, (options.id ?? 1) & 0xff);
  let length = variable.length + payload;
  const header = [0x30 | (qos << 1)];
  do {
    let b = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) b |= 0x80;
    header.push(b);
  } while (length > 0);
  const out = new Uint8Array(header.length + variable.length + payload).fill(0x61);
  out.set(header);
  out.set(variable, header.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

Deno.test("an oversized PUBLISH is skipped as it streams, its QoS 1 acknowledged between whole packets; the rest arrives intact", async () => {
  const small1 = publish("a/b", 10);
  const big = publish("R/portal/keepalive", 300_000, { qos: 1, id: 0x1234 });
  const small2 = publish("c", 3, { qos: 1, id: 9 });
  const wire = concat([small1, big, small2]);
  const received: Uint8Array[] = [];
  let sendRest: (() => void) | undefined;
  const server = net.createServer((socket) => {
    socket.on("data", (d: Uint8Array) => received.push(new Uint8Array(d)));
    // The first 40 bytes one at a time (every header cut), then the big one in two parts.
    let at = 0;
    const drip = () => {
      if (at < 40) {
        socket.write(wire.subarray(at, ++at));
        return void setTimeout(drip, 1);
      }
      sendRest = () => socket.write(wire.subarray(at));
    };
    drip();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const oversize: number[] = [];
  const guard = new PacketGuard(net.connect(port, "127.0.0.1"), {
    max: 64 * 1024,
    onOversize: (o) => oversize.push(o.size),
  });
  const got: Uint8Array[] = [];
  guard.on("data", (d: Uint8Array) => got.push(new Uint8Array(d)));
  try {
    await waitFor(() => sendRest !== undefined, { what: "the first 40 bytes sent" });
    await waitFor(() => concat(got).length === small1.length, {
      what: "the first small message",
    });
    // An outgoing packet half written (a PUBLISH's header) when the ack falls due.
    const out = publish("N/x", 4);
    guard.write(out.subarray(0, 2));
    sendRest!();
    await waitFor(() => oversize.length === 1, { what: "the oversized message seen" });
    await waitFor(() => concat(got).length === small1.length + small2.length, {
      what: "the second small message",
    });
    assert.deepEqual(concat(got), concat([small1, small2]));
    assert.equal(oversize[0], big.length);
    // The ack waits for the rest of the half-written packet.
    await new Promise((r) => setTimeout(r, 50));
    guard.write(out.subarray(2));
    const ack = Uint8Array.of(0x40, 2, 0x12, 0x34);
    await waitFor(() => concat(received).length === out.length + 4, { what: "the ack" });
    assert.deepEqual(concat(received), concat([out, ack]));
  } finally {
    guard.destroy();
    await new Promise((r) => server.close(r));
  }
});

Deno.test("an oversized packet that is not a PUBLISH closes the connection with an error", async () => {
  const server = net.createServer((socket) => {
    // A SUBACK claiming 100 KB.
    socket.write(Uint8Array.of(0x90, 0xa0, 0x8d, 0x06));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const guard = new PacketGuard(net.connect(port, "127.0.0.1"), {
    max: 64 * 1024,
    onOversize: () => {},
  });
  try {
    const error = await new Promise<Error & { code?: string }>((r) => guard.on("error", r));
    assert.equal(error.code, "ERR_MQTT_PACKET_TOO_LARGE");
    assert.match(error.message, /type 9/);
  } finally {
    guard.destroy();
    await new Promise((r) => server.close(r));
  }
});
