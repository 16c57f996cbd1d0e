/**
 * The one way the MQTT source opens a broker session (main thread, ingest Worker, retiring):
 * connect, read with PUBACKs held, subscribe replacing what an earlier setting left, report.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { BrokerConfig } from "../../../src/mqtt/broker.ts";
import type { InboxMessage, MessageTaker } from "../../../src/sources/mqtt/client_reader.ts";
import { openSession, type SessionState } from "../../../src/sources/mqtt/session.ts";
import { ComponentStatus } from "../../../src/status.ts";
import { freePort, startMosquitto, waitFor } from "../../helpers/servers.ts";

function brokerAt(port: number, clientId: string): BrokerConfig {
  return {
    url: `mqtt://127.0.0.1:${port}`,
    client_id: clientId,
    clean: false,
    protocol_version: 5,
    insecure: false,
    timeout: 2000,
  };
}

/** A taker that keeps what it gets and never holds the session back. */
function keeping(): MessageTaker & { got: InboxMessage[] } {
  const got: InboxMessage[] = [];
  return {
    got,
    onMessage: (m) => got.push({ ...m, payload: m.payload.slice() }),
    full: () => false,
    room: () => Promise.resolve(),
    status: new ComponentStatus("units", "mqtt"),
  };
}

/** Leaves a persistent session `clientId` subscribed to `filter`, as an earlier setting would. */
async function leaveSession(port: number, clientId: string, filter: string): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
  });
  await c.subscribeAsync(filter, { qos: 1 });
  await c.endAsync();
}

Deno.test("a session subscribes, drops the filters an earlier setting left, holds each PUBACK until released, and subscribes again after a broker restart", async () => {
  const broker = await startMosquitto({ persistence: true });
  const pub = () => mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const taker = keeping();
  const states: SessionState[] = [];
  try {
    await leaveSession(broker.port, "sess", "old/+");
    const session = await openSession({
      broker: brokerAt(broker.port, "sess"),
      place: { name: "units", gatewayId: "test" },
      taker,
      conn: 2,
      qos: 1,
      maxPacketSize: 64 * 1024,
      subscriptions: { "new/+": { qos: 1 } },
      stale: ["old/+"],
      onState: (s) => states.push(s),
    });
    try {
      assert.deepEqual(session.state, { connected: true, subscribed: true });
      const p = await pub();
      // In order from one publisher: were old/+ still held, old/1 would come before new/1.
      await p.publishAsync("old/1", "1", { qos: 1 });
      await p.publishAsync("new/1", "2", { qos: 1 });
      await p.endAsync();
      await waitFor(() => taker.got.length >= 1, { what: "new/1" });
      assert.deepEqual(taker.got.map((m) => [m.topic, m.conn]), [["new/1", 2]]);
      assert.equal(session.acks?.unreleased, 1, "the PUBACK waits for its release");
      taker.got[0].release();
      await waitFor(() => session.acks?.unreleased === 0, { what: "the PUBACK released" });

      await broker.kill("SIGTERM"); // a shutdown: mosquitto saves the session
      await waitFor(() => !session.state.connected, { what: "the loss reported" });
      await broker.start();
      await waitFor(() => session.state.subscribed === true, { what: "subscribed again" });
      const q = await pub();
      await q.publishAsync("new/2", "3", { qos: 1 });
      await q.endAsync();
      await waitFor(() => taker.got.some((m) => m.topic === "new/2"), { what: "new/2" });
      assert.ok(states.some((s) => !s.connected), `a lost connection reported: ${states}`);
    } finally {
      await session.close();
    }
  } finally {
    await broker.stop();
  }
});

Deno.test("a session with nothing to subscribe leaves its filters (retiring); one without a broker says so at once", async () => {
  const broker = await startMosquitto();
  const url = `mqtt://127.0.0.1:${broker.port}`;
  try {
    await leaveSession(broker.port, "leaving", "a/+");
    const session = await openSession({
      broker: brokerAt(broker.port, "leaving"),
      place: { name: "units", gatewayId: "test" },
      taker: keeping(),
      conn: 1,
      qos: 1,
      maxPacketSize: 64 * 1024,
      subscriptions: {},
      stale: ["a/+"],
      onState: () => {},
    });
    assert.deepEqual(session.state, { connected: true, subscribed: true });
    await session.close();
    // The stored session no longer holds a/+: behind a/1, the sentinel comes alone.
    const again = await mqtt.connectAsync(url, {
      clientId: "leaving",
      clean: false,
      protocolVersion: 5,
    });
    const topics: string[] = [];
    again.on("message", (t) => topics.push(t));
    await again.subscribeAsync("sentinel", { qos: 1 });
    const p = await mqtt.connectAsync(url);
    await p.publishAsync("a/1", "1", { qos: 1 });
    await p.publishAsync("sentinel", "2", { qos: 1 });
    await p.endAsync();
    await waitFor(() => topics.includes("sentinel"), { what: "the sentinel" });
    await again.endAsync();
    assert.deepEqual(topics, ["sentinel"]);
  } finally {
    await broker.stop();
  }

  const states: SessionState[] = [];
  const nowhere = await openSession({
    broker: { ...brokerAt(freePort(), "nowhere"), timeout: 300 },
    place: { name: "units", gatewayId: "test" },
    taker: keeping(),
    conn: 0,
    qos: 1,
    maxPacketSize: 64 * 1024,
    subscriptions: { "x/+": { qos: 1 } },
    stale: [],
    onState: (s) => states.push(s),
  });
  try {
    assert.equal(nowhere.state.connected, false);
    assert.equal(states[0]?.connected, false, "reported, not left unsaid");
  } finally {
    await nowhere.close();
  }
});
