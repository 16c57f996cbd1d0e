import assert from "node:assert/strict";
import mqtt from "mqtt";
import { configureLog } from "../../../src/log.ts";
import type { Envelope } from "../../../src/model.ts";
import { encodeMessages } from "../../../src/sinks/mqtt/encode.ts";
import { deliveryFor } from "../../helpers/delivery.ts";
import { startMosquitto, waitFor } from "../../helpers/servers.ts";

configureLog({ level: "error" });

function samples(from: number, n: number): Envelope[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "sample",
    data: { source: "t", node: "mppt1", ts: 1000 + from + i, fields: { seq: from + i, V: 13.2 } },
  }));
}

async function subscriber(port: number, topic: string) {
  const got: { topic: string; payload: Record<string, unknown> }[] = [];
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: "test-sub",
    clean: false,
  });
  client.on("message", (t, p) => got.push({ topic: t, payload: JSON.parse(p.toString()) }));
  await client.subscribeAsync(topic, { qos: 1 });
  return { got, close: () => client.endAsync(true) };
}

Deno.test("topic templates: one message per sample, or one per field with {field}", () => {
  const [s] = samples(0, 1);
  const whole = encodeMessages([s], { topic: "gw/{gateway}/{node}/{kind}", gatewayId: "g1" });
  assert.equal(whole.length, 1);
  assert.equal(whole[0].topic, "gw/g1/mppt1/sample");
  assert.equal(JSON.parse(whole[0].payload).fields.V, 13.2);
  const per = encodeMessages([s], { topic: "gw/{node}/{field}", gatewayId: "g1" });
  assert.deepEqual(per.map((m) => m.topic), ["gw/mppt1/seq", "gw/mppt1/V"]);
  assert.deepEqual(JSON.parse(per[1].payload), { value: 13.2, ts: 1000 });
  // Wildcards in values cannot change the topic's shape.
  const odd = encodeMessages([{ ...s, data: { ...s.data, node: "a/b+#" } } as Envelope], {
    topic: "x/{node}",
    gatewayId: "g",
  });
  assert.equal(odd[0].topic, "x/a_b__");
});

Deno.test("MQTT sink publishes through the outbox; a broker outage loses nothing", async () => {
  // Persistence keeps the test subscriber's session, so nothing depends on who reconnects first.
  const broker = await startMosquitto({ persistence: true });
  const sub = await subscriber(broker.port, "gw/#");
  const d = await deliveryFor({
    type: "mqtt",
    url: `mqtt://127.0.0.1:${broker.port}`,
    topic: "gw/{node}/{kind}",
    batch_size: 100,
    max_wait: "20ms",
    backoff_min: "100ms",
    backoff_max: "300ms",
    timeout: "2s",
  });
  try {
    d.delivery.start();
    d.append(samples(0, 50));
    await waitFor(() => sub.got.length === 50, { what: "first 50 messages" });
    assert.equal(sub.got[0].topic, "gw/mppt1/sample");
    assert.equal(sub.got[0].payload.gateway, "gw-test");

    await sub.close();
    await broker.kill("SIGTERM");
    d.append(samples(50, 200));
    await waitFor(() => (d.status.counters.retried ?? 0) >= 1, { what: "retries while down" });
    assert.equal(d.outbox.depth("sink").records, 200, "waiting in the outbox, not in mqtt.js");
    await broker.start();
    const sub2 = await subscriber(broker.port, "gw/#");
    await waitFor(() => d.outbox.depth("sink").records === 0, {
      what: "outbox drained",
    });
    await waitFor(
      () =>
        new Set(sub2.got.map((m) => m.payload.fields && (m.payload.fields as { seq: number }).seq))
          .size >= 200,
      {
        what: "all 200 after the outage",
      },
    );
    const seqs = [...new Set(sub2.got.map((m) => (m.payload.fields as { seq: number }).seq))];
    assert.deepEqual(seqs.sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => 50 + i));
    await sub2.close();
  } finally {
    await d.close();
    await broker.stop();
  }
});
