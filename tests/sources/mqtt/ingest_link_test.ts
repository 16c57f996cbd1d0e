import assert from "node:assert/strict";
import mqtt from "mqtt";
import { IngestLink } from "../../../src/sources/mqtt/ingest_link.ts";
import type { WireMessage } from "../../../src/sources/mqtt/ingest_messages.ts";
import { ComponentStatus } from "../../../src/status.ts";
import { startMosquitto, waitFor } from "../../helpers/servers.ts";

Deno.test("message numbers wrap past 32 bits: every message is still acknowledged once (ack: commit), none redelivered", async () => {
  const broker = await startMosquitto();
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const status = new ComponentStatus("units", "mqtt");
  const received: WireMessage[] = [];
  const link1: IngestLink = new IngestLink({
    setup: {
      broker: {
        url,
        client_id: "wrap",
        clean: false,
        protocol_version: 5,
        insecure: false,
        timeout: 5000,
      },
      name: "units",
      gatewayId: "test",
      subscriptions: { "wrap/+": { qos: 1 } },
      stale: [],
      maxPacketSize: 1024 * 1024,
      ack: "commit",
      // Ten messages before the 32-bit wire number runs out: the next ones wrap to 1, 2, ...
      firstSeq: 0xffff_ffff - 10,
    },
    status,
    onMessages: (items) => {
      for (const m of items) {
        received.push({ ...m, payload: m.payload.slice() });
        link1.ack(m.seq!); // committed at once
      }
    },
    onState: () => {},
  });
  try {
    await link1.start();
    await waitFor(() => status.info.connected === true, { what: "connected" });
    const pub = await mqtt.connectAsync(url);
    for (let i = 0; i < 30; i++) await pub.publishAsync(`wrap/${i}`, String(i), { qos: 1 });
    await pub.endAsync();
    await waitFor(() => received.length >= 30, { what: "30 messages" });
    const seqs = received.map((m) => m.seq);
    assert.ok(seqs.every((s) => s !== undefined && s > 0), `every message numbered: ${seqs}`);
    assert.ok(seqs.includes(1), `the numbers wrapped: ${seqs}`);
    await new Promise((r) => setTimeout(r, 200)); // the last PUBACKs go out
  } finally {
    await link1.close();
  }
  // The same session again: a message whose PUBACK was never sent would be sent again now.
  // The handler is attached before the connection is up: the broker resends right after its
  // CONNACK, and a message emitted before connectAsync resolved would go unseen.
  const again = mqtt.connect(url, { clientId: "wrap", clean: false, protocolVersion: 5 });
  const redelivered: string[] = [];
  again.on("message", (topic) => redelivered.push(topic));
  await new Promise((r) => again.once("connect", r));
  // The broker resends what was never acknowledged as the session resumes, before a message
  // published after that: once this one is in, nothing else can still come (a fixed wait could
  // end before a late redelivery on a loaded machine, and prove nothing).
  const pub = await mqtt.connectAsync(url);
  await pub.publishAsync("wrap/sentinel", "-", { qos: 1 });
  await pub.endAsync();
  await waitFor(() => redelivered.includes("wrap/sentinel"), { what: "the message after" });
  await again.endAsync();
  await broker.stop();
  assert.deepEqual(redelivered, ["wrap/sentinel"]);
  assert.equal(received.length, 30);
});
