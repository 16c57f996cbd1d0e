import assert from "node:assert/strict";
import mqtt from "mqtt";
import { configureLog } from "../../../src/log.ts";
import { MqttSource, nodeOf } from "../../../src/sources/mqtt/mod.ts";
import { mqttSourceSchema } from "../../../src/sources/mqtt/schema.ts";
import { classify } from "../../../src/payload.ts";
import { collectingContext } from "../../helpers/context.ts";
import { startMosquitto, waitFor } from "../../helpers/servers.ts";
import { publishNumbers, sortedValues, unitsSource } from "../../helpers/mqtt_units.ts";

configureLog({ level: "error" });
const enc = new TextEncoder();

Deno.test("node ids come from the filter's + segment", () => {
  assert.equal(nodeOf("pepeunit/abc-123/pepeunit", "pepeunit/+/pepeunit", 1), "abc-123");
  assert.equal(nodeOf("pepeunit/abc/other", "pepeunit/+/pepeunit", 1), null);
  assert.equal(nodeOf("site/a/b/temp", "site/+/+/temp", 2), "b");
  assert.equal(nodeOf("plain/topic", "plain/topic", 1), "plain/topic");
  assert.equal(nodeOf("dev/x/y/z", "dev/+/#", 1), "x");
});

Deno.test("payload types are detected by content", () => {
  assert.deepEqual(classify(enc.encode("21.5")), { kind: "number", value: 21.5 });
  assert.deepEqual(classify(enc.encode("hello")), { kind: "text", value: "hello" });
  assert.deepEqual(classify(enc.encode('{"t":1,"s":"x","o":{}}')), {
    kind: "json",
    fields: { t: 1, s: "x" },
  });
  assert.deepEqual(classify(enc.encode('{"t":')), { kind: "invalid", reason: "invalid_json" });
  assert.deepEqual(classify(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2])), {
    kind: "image",
    format: "jpeg",
  });
  assert.deepEqual(classify(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), {
    kind: "image",
    format: "png",
  });
  assert.deepEqual(classify(new Uint8Array([0xc3, 0x28, 0x00])), { kind: "binary" });
  assert.deepEqual(classify(new Uint8Array([0x41, 0x01, 0x42])), { kind: "binary" });
});

for (
  const [ack, worker] of [["receipt", false], ["commit", false], ["receipt", true], [
    "commit",
    true,
  ]] as const
) {
  Deno.test(
    `MQTT messages become samples per node; bad payloads are counted and block nothing (ack ${ack}${
      worker ? ", the connection in a Worker" : ""
    })`,
    async () => {
      const broker = await startMosquitto();
      const ctx = collectingContext("units");
      const source = unitsSource(broker.port, ctx, {
        max_size: "1KiB",
        max_wait: "10ms",
        ack,
        worker,
        client_id: `units-${ack}-${worker}`,
      });
      await source.start();
      // A start stops waiting for the broker after 3 s: what is published before the
      // subscription exists is not the source's to receive.
      await waitFor(() => ctx.status.state === "up", { what: "subscribed" });
      const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
      try {
        const send = (node: string, payload: string | Uint8Array) =>
          pub.publishAsync(`pepeunit/${node}/pepeunit`, payload as string, { qos: 1 });
        await send("a", "21.5");
        await send("a", '{"temp": 22, "state": "on"}');
        await send("b", "{broken");
        await send("b", "x".repeat(2000));
        await send("b", new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0]));
        await send("c", "hello");
        await pub.publishAsync("other/a/topic", "1", { qos: 1 });
        await waitFor(() => ctx.samples.length === 3, { what: "samples" });
        const byNode = ctx.samples.map((s) => [s.node, s.fields]);
        assert.deepEqual(byNode, [["a", { value: 21.5 }], ["a", { temp: 22, state: "on" }], ["c", {
          value: "hello",
        }]]);
        await waitFor(
          () =>
            Object.values(source.nodes.get("b")?.dropped ?? {}).reduce((a, b) => a + b, 0) === 3,
          {
            what: "drops counted",
          },
        );
        assert.deepEqual(source.nodes.get("b")!.dropped, {
          invalid_json: 1,
          over_max_size: 1,
          unsupported_image: 1,
        });
        assert.equal(source.nodes.get("a")!.bytes, 4 + 27);
        // /status shows the bytes each node sent (what billing needs).
        const nodes = ctx.status.toJSON().nodes as Record<string, { bytes: number }>;
        assert.equal(nodes.a.bytes, 31);
        assert.equal(ctx.status.dropped.invalid_json, 1);
      } finally {
        await pub.endAsync();
        await source.stop();
        await broker.stop();
      }
    },
  );
}

Deno.test("storage policies reload in place: the connection stays, the new policy applies to the next message", async () => {
  const broker = await startMosquitto();
  const ctx = collectingContext("units");
  const base = {
    type: "mqtt",
    url: `mqtt://127.0.0.1:${broker.port}`,
    topics: ["pepeunit/+/pepeunit"],
    max_wait: "10ms",
    client_id: "units-reload",
  };
  const policy = (n: number) => ({
    nodes: { a: { processing_policy: { policy_type: "NRecords", n_records_count: n } } },
  });
  const source = new MqttSource(mqttSourceSchema.parse({ ...base, policies: policy(5) }), ctx);
  await source.start();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  try {
    const counts = () => ctx.envelopes.map((e) => (e.data as { max_count: number }).max_count);
    await pub.publishAsync("pepeunit/a/pepeunit", "1", { qos: 1 });
    await waitFor(() => ctx.envelopes.length === 1, { what: "first row" });
    assert.equal(source.update(mqttSourceSchema.parse({ ...base, policies: policy(2) })), true);
    await pub.publishAsync("pepeunit/a/pepeunit", "2", { qos: 1 });
    await pub.publishAsync("pepeunit/b/pepeunit", "3", { qos: 1 }); // no policy: a sample
    await waitFor(() => ctx.envelopes.length === 2 && ctx.samples.length === 1, {
      what: "second row and a sample",
    });
    assert.deepEqual(counts(), [5, 2]);
    assert.equal(ctx.samples[0].node, "b");
    // A first image policy needs the image intake (ffmpeg, frame store): a restart.
    assert.equal(
      source.update(mqttSourceSchema.parse({
        ...base,
        policies: { nodes: { cam: { image_policy: {} } } },
      })),
      false,
    );
    // Anything else changed (here the topics) needs a restart.
    assert.equal(
      source.update(mqttSourceSchema.parse({ ...base, topics: ["x/+"], policies: policy(2) })),
      false,
    );
  } finally {
    await pub.endAsync();
    await source.stop();
    await broker.stop();
  }
});

Deno.test("messages the broker dropped for a slow subscriber show in /status as broker_dropped", async () => {
  // A broker keeping only 5 messages for an offline session, publishing $SYS every second.
  const broker = await startMosquitto({ config: "max_queued_messages 5\nsys_interval 1\n" });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const config = mqttSourceSchema.parse({
    type: "mqtt",
    url,
    topics: ["site/+/data"],
    client_id: "slow-units",
  });
  const ctx = collectingContext("units");
  let source = new MqttSource(config, ctx);
  await source.start();
  await source.stop();
  const pub = await mqtt.connectAsync(url);
  try {
    for (let i = 0; i < 50; i++) await pub.publishAsync("site/a/data", String(i), { qos: 1 });
    source = new MqttSource(config, ctx);
    await source.start();
    await waitFor(() => (ctx.status.info.broker_dropped as number) >= 45, {
      what: "the broker's drop count",
    });
    await waitFor(() => ctx.samples.length === 5, { what: "the 5 messages the broker kept" });
  } finally {
    await source.stop();
    await pub.endAsync();
    await broker.stop();
  }
});

Deno.test("connections: 3 share the subscription: every message once, spread over three Workers; back to one: what the broker queued meanwhile for the three sessions arrives once, nothing twice", async () => {
  const broker = await startMosquitto();
  const base = { max_wait: "10ms", ack: "commit", client_id: "units-shared" };
  const publish = (from: number, count: number) => publishNumbers(broker.port, from, count);
  // One data dir: the source keeps there how many connections it opened last.
  const dataDir = await Deno.makeTempDir({ prefix: "source-" });
  try {
    const ctx = collectingContext("units", { dataDir });
    const source = unitsSource(broker.port, ctx, { ...base, connections: 3 });
    await source.start();
    try {
      assert.equal(ctx.status.info.reader, "3 Workers");
      await waitFor(() => ctx.status.info.connections_up === 3, { what: "three connections" });
      await publish(0, 300);
      await waitFor(() => ctx.samples.length >= 300, { what: "300 samples" });
      assert.deepEqual(sortedValues(ctx), Array.from({ length: 300 }, (_, i) => i));
      const spread = ctx.status.info.messages_by_connection as number[];
      // The first connection alone also reads mosquitto's $SYS figure.
      assert.ok(spread.reduce((a, b) => a + b, 0) >= 300, `${spread}`);
      assert.ok(spread.every((n) => n > 0), `the broker used every connection: ${spread}`);
    } finally {
      await source.stop();
    }
    // While the gateway is down the broker queues a share of every message for each of the three
    // sessions. One connection again: the first session drops the shared filter (no message
    // twice) and the two sessions taken away are emptied into the source, then ended.
    assert.equal((await Deno.readTextFile(`${dataDir}/mqtt-units.connections`)).trim(), "3");
    await publish(300, 60);
    const again = collectingContext("units", { dataDir });
    const one = unitsSource(broker.port, again, base);
    await one.start();
    try {
      await waitFor(() => again.status.counters.sessions_retired === 2, {
        what: "two sessions retired",
      });
      // The first session's share comes on its own connection, concurrently with the retiring.
      await waitFor(() => again.samples.length >= 60, { what: "the 60 queued messages" });
      assert.deepEqual(sortedValues(again), Array.from({ length: 60 }, (_, i) => 300 + i));
      await waitFor(
        async () => (await Deno.readTextFile(`${dataDir}/mqtt-units.connections`)).trim() === "1",
        { what: "N = 1 kept" },
      );
      await publish(360, 30);
      await waitFor(() => again.samples.length >= 90, { what: "30 more samples" });
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would follow at once
      assert.deepEqual(sortedValues(again), Array.from({ length: 90 }, (_, i) => 300 + i));
    } finally {
      await one.stop();
    }
  } finally {
    await broker.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("connections in Workers and a slow pipeline: reading pauses in time, no message is dropped", async () => {
  const broker = await startMosquitto({ config: "max_queued_messages 0\n" });
  const ctx = collectingContext("units");
  // The pipeline takes 20 ms per hand-over: the source's bound fills while Workers read on. It
  // takes nothing until the bound has held reading back once: on a loaded machine the publisher
  // could be the slower side, and reading would never need to pause.
  const emit = ctx.emit;
  const heldOnce = waitFor(() => (ctx.status.counters.paused ?? 0) > 0, {
    what: "reading paused",
  });
  heldOnce.catch(() => {}); // awaited by the pipeline; a timeout fails the counts below
  ctx.emit = async (batch, options) => {
    await heldOnce;
    await new Promise((r) => setTimeout(r, 20));
    return emit(batch, options);
  };
  const source = unitsSource(broker.port, ctx, {
    connections: 2,
    max_pending: "4KiB",
    batch: 50,
    max_wait: "10ms",
    client_id: "units-slow",
  });
  await source.start();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  try {
    await waitFor(() => ctx.status.info.connections_up === 2, { what: "two connections" });
    const payload = "x".repeat(90);
    await Promise.all(
      Array.from(
        { length: 3000 },
        (_, i) => pub.publishAsync(`pepeunit/n${i % 4}/pepeunit`, `${payload}${i}`, { qos: 1 }),
      ),
    );
    await waitFor(() => ctx.samples.length >= 3000, { what: "3000 samples", timeoutMs: 60_000 });
    assert.equal(ctx.samples.length, 3000);
    assert.deepEqual(ctx.status.dropped, {});
    assert.ok((ctx.status.counters.paused ?? 0) > 0, "reading paused");
  } finally {
    await pub.endAsync();
    await source.stop();
    await broker.stop();
  }
});

Deno.test("connections in Workers through a broker restart: degraded while it is down, then every message once", async () => {
  const broker = await startMosquitto({ persistence: true });
  const ctx = collectingContext("units");
  const source = unitsSource(broker.port, ctx, {
    connections: 2,
    ack: "commit",
    max_wait: "10ms",
    client_id: "units-restart",
  });
  await source.start();
  const publish = (from: number, count: number) => publishNumbers(broker.port, from, count);
  try {
    await waitFor(() => ctx.status.info.connections_up === 2, { what: "two connections" });
    await publish(0, 100);
    await waitFor(() => ctx.samples.length >= 100, { what: "100 samples" });
    await broker.kill("SIGTERM"); // a shutdown: mosquitto saves the sessions
    await waitFor(() => ctx.status.state === "degraded", { what: "degraded" });
    await broker.start();
    await waitFor(() => ctx.status.state === "up" && ctx.status.info.connections_up === 2, {
      what: "both connections back",
    });
    await publish(100, 100);
    await waitFor(() => ctx.samples.length >= 200, { what: "200 samples" });
    assert.deepEqual(sortedValues(ctx), Array.from({ length: 200 }, (_, i) => i));
  } finally {
    await source.stop();
    await broker.stop();
  }
});

Deno.test("a flood of 1-byte messages: max_pending bounds the memory waiting, not payload bytes alone", async () => {
  const broker = await startMosquitto({
    config: "max_queued_messages 0\nmax_inflight_messages 0\n",
  });
  const ctx = collectingContext("units");
  // A slow pipeline: what waits for it is one hand-over's batch at a time.
  const batches: number[] = [];
  // What /status says waits for the pipeline, read at each hand-over.
  const pending: { messages: number; bytes: number; max_bytes?: number }[] = [];
  const emit = ctx.emit;
  ctx.emit = async (batch, options) => {
    batches.push(batch.length);
    await new Promise((r) => setTimeout(r, 20));
    pending.push(ctx.status.toJSON().pending!);
    return emit(batch, options);
  };
  // 64 KiB of 1-byte payloads were 65,536 messages; a message costs ~300 B of heap.
  const source = unitsSource(broker.port, ctx, { max_pending: "64KiB", client_id: "units-tiny" });
  await source.start();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  try {
    await waitFor(() => ctx.status.state === "up", { what: "subscribed" });
    await Promise.all(
      Array.from(
        { length: 3000 },
        (_, i) => pub.publishAsync(`pepeunit/n${i}/pepeunit`, String(i % 10), { qos: 1 }),
      ),
    );
    await waitFor(() => ctx.samples.length >= 3000, { what: "3000 samples", timeoutMs: 60_000 });
    assert.deepEqual(ctx.status.dropped, {});
    // A batch takes what waited: at most 64 KiB / (256 B + the topic) of them, never 2000.
    assert.ok(Math.max(...batches) <= 64 * 1024 / 256, `batches of up to ${Math.max(...batches)}`);
    // /status showed the queue within max_pending (one message over at most), and it empties.
    assert.ok(pending.length > 0 && pending.every((p) => p.max_bytes === 64 * 1024));
    const most = Math.max(...pending.map((p) => p.bytes));
    assert.ok(most <= 64 * 1024 + 1024, `pending up to ${most} B`);
    await waitFor(() => ctx.status.toJSON().pending?.messages === 0, { what: "nothing pending" });
    assert.equal(ctx.status.toJSON().pending?.bytes, 0);
  } finally {
    await pub.endAsync();
    await source.stop();
    await broker.stop();
  }
});
