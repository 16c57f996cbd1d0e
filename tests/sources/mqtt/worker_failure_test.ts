import assert from "node:assert/strict";
import mqtt from "mqtt";
import { configureLog } from "../../../src/log.ts";
import { MqttSource } from "../../../src/sources/mqtt/mod.ts";
import { mqttSourceSchema } from "../../../src/sources/mqtt/schema.ts";
import { collectingContext } from "../../helpers/context.ts";
import { startMosquitto, waitFor } from "../../helpers/servers.ts";

configureLog({ level: "error" });

for (const connections of [1, 2]) {
  Deno.test(`a connection that cannot start (its CA file missing) fails the source's start, so it is started again; once the file is there, every message arrives (${connections === 1 ? "main thread" : "2 connections in Workers"})`, async () => {
    const broker = await startMosquitto();
    const dir = await Deno.makeTempDir({ prefix: "source-ca-" });
    const ca = `${dir}/ca.pem`; // provisioned later, as on a board whose certificates come after boot
    const config = mqttSourceSchema.parse({
      type: "mqtt",
      url: `mqtt://127.0.0.1:${broker.port}`,
      topics: ["pepeunit/+/pepeunit"],
      client_id: `ca-later-${connections}`,
      max_wait: "10ms",
      connections,
      ca,
    });
    try {
      const first = collectingContext("units", { dataDir: dir });
      const failing = new MqttSource(config, first);
      // Without this, a Worker that died on the file left a source that looked started and
      // never connected.
      await assert.rejects(failing.start(), (e: Error) => e.message.includes(ca));
      await failing.stop(); // as the host does before it tries again
      await Deno.writeTextFile(ca, "-----BEGIN CERTIFICATE-----\n"); // unused on mqtt://
      const ctx = collectingContext("units", { dataDir: dir });
      const source = new MqttSource(config, ctx);
      await source.start();
      try {
        await waitFor(() => ctx.status.state === "up", { what: "subscribed" });
        const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
        for (let i = 0; i < 100; i++) {
          await pub.publishAsync(`pepeunit/n${i % 4}/pepeunit`, String(i), { qos: 1 });
        }
        await pub.endAsync();
        await waitFor(() => ctx.samples.length >= 100, { what: "100 samples" });
        const values = ctx.samples.map((s) => s.fields.value as number).sort((a, b) => a - b);
        assert.deepEqual(values, Array.from({ length: 100 }, (_, i) => i));
      } finally {
        await source.stop();
      }
    } finally {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
