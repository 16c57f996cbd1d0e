/**
 * The Kafka sink against librdkafka's mock cluster (a real Kafka protocol peer):
 * DataLake's topics, keyed by node, in order per node, nothing lost when the
 * broker goes down mid-stream and comes back.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { configureLog } from "../../src/log.ts";
import { kafkaSchema } from "../../src/sinks/kafka/mod.ts";
import type { Envelope } from "../../src/model.ts";
import { deliveryFor } from "../helpers/delivery.ts";
import { startKafkaMock } from "../helpers/kafka.ts";
import { waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

function anomaly(node: string, seq: number): Envelope {
  const id = `${node}-${seq}`;
  return {
    kind: "event",
    data: {
      id,
      type: "anomaly",
      ts: Date.now(),
      node,
      data: { event_id: id, node, metric: "temperature", value: 80 + seq, seq, severity: "WARN" },
    },
  };
}

Deno.test("the producer is idempotent unless told otherwise; DataLake's topic names by default", () => {
  const c = kafkaSchema.parse({ type: "kafka", brokers: ["k:9092"] });
  assert.equal(c.idempotent, true);
  assert.deepEqual(c.forward, ["event"]);
  assert.equal(c.topics.anomaly, "datalake.sensorDataAnomalyDetected");
  assert.equal(c.topics.data_saved, "datalake.sensorDataSaved");
});

Deno.test("events reach DataLake's topics keyed by node, in order, across a broker outage", async () => {
  const mock = await startKafkaMock();
  const d = await deliveryFor({
    type: "kafka",
    brokers: [mock.bootstrap],
    batch_size: 20,
    max_wait: "20ms",
    backoff_min: "100ms",
    backoff_max: "300ms",
    timeout: "2s",
    forward: ["event", "sample"],
    // The mock cluster reports no controller, which kafkajs' idempotent producer needs.
    idempotent: false,
  });
  const kafka = new Kafka({
    brokers: [mock.bootstrap],
    clientId: "test",
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: "datalake" });
  const got: { topic: string; key: string; value: Record<string, unknown> }[] = [];
  try {
    d.delivery.start();
    const first: Envelope[] = [];
    for (let i = 0; i < 30; i++) first.push(anomaly(i % 2 ? "sensor-a" : "sensor-b", i));
    first.push({
      kind: "event",
      data: {
        id: "s1",
        type: "data_saved",
        ts: Date.now(),
        data: { event_id: "s1", records: 30, location: "store.db" },
      },
    });
    first.push({
      kind: "sample",
      data: { source: "t", node: "sensor-a", ts: Date.now(), fields: { temperature: 21.5 } },
    });
    d.append(first);
    await waitFor(() => d.outbox.depth("sink").records === 0, { what: "first batch delivered" });

    // The broker goes down mid-stream: records wait in the outbox and arrive when it is back.
    await mock.down();
    const second: Envelope[] = [];
    for (let i = 30; i < 60; i++) second.push(anomaly(i % 2 ? "sensor-a" : "sensor-b", i));
    d.append(second);
    await waitFor(() => (d.status.counters.retried ?? 0) >= 2, { what: "retries while down" });
    assert.ok(d.outbox.depth("sink").records > 0, "waiting in the outbox");
    await mock.up();
    await waitFor(() => d.outbox.depth("sink").records === 0, {
      what: "everything delivered after the outage",
    });

    await consumer.connect();
    await consumer.subscribe({
      topics: [
        "datalake.sensorDataAnomalyDetected",
        "datalake.sensorDataSaved",
        "edge-gateway.sample",
      ],
      fromBeginning: true,
    });
    await consumer.run({
      eachMessage: ({ topic, message }) => {
        got.push({
          topic,
          key: String(message.key),
          value: JSON.parse(String(message.value)),
        });
        return Promise.resolve();
      },
    });
    await waitFor(() => got.length >= 62, { what: "62 messages consumed" });
    const anomalies = got.filter((m) => m.topic === "datalake.sensorDataAnomalyDetected");
    for (const node of ["sensor-a", "sensor-b"]) {
      const seqs = anomalies.filter((m) => m.key === node).map((m) => m.value.seq as number);
      const expected = Array.from({ length: 60 }, (_, i) => i).filter((i) =>
        (i % 2 ? "sensor-a" : "sensor-b") === node
      );
      // Every one arrived, in order per node (a retried batch may repeat, never reorder).
      assert.deepEqual([...new Set(seqs)], expected, node);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${node} in order`);
    }
    assert.equal(anomalies[0].value.event_id !== undefined, true);
    assert.equal(anomalies[0].value.metric, "temperature");
    const saved = got.filter((m) => m.topic === "datalake.sensorDataSaved");
    assert.equal(saved.length, 1);
    assert.equal(saved[0].value.records, 30);
    assert.equal(got.filter((m) => m.topic === "edge-gateway.sample")[0].key, "sensor-a");
  } finally {
    await consumer.disconnect().catch(() => {});
    await d.close();
    await mock.stop();
  }
});
