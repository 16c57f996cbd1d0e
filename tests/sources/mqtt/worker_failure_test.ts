import assert from "node:assert/strict";
import { configureLog } from "../../../src/log.ts";
import { collectingContext } from "../../helpers/context.ts";
import { publishNumbers, sortedValues, unitsSource } from "../../helpers/mqtt_units.ts";
import { startMosquitto, waitFor } from "../../helpers/servers.ts";

configureLog({ level: "error" });

for (const connections of [1, 2]) {
  Deno.test(`a connection that cannot start (its CA file missing) fails the source's start, so it is started again; once the file is there, every message arrives (${connections === 1 ? "main thread" : "2 connections in Workers"})`, async () => {
    const broker = await startMosquitto();
    const dir = await Deno.makeTempDir({ prefix: "source-ca-" });
    const ca = `${dir}/ca.pem`; // provisioned later, as on a board whose certificates come after boot
    const settings = { client_id: `ca-later-${connections}`, max_wait: "10ms", connections, ca };
    try {
      const failing = unitsSource(
        broker.port,
        collectingContext("units", { dataDir: dir }),
        settings,
      );
      // Without this, a Worker that died on the file left a source that looked started and
      // never connected.
      await assert.rejects(failing.start(), (e: Error) => e.message.includes(ca));
      await failing.stop(); // as the host does before it tries again
      await Deno.writeTextFile(ca, "-----BEGIN CERTIFICATE-----\n"); // unused on mqtt://
      const ctx = collectingContext("units", { dataDir: dir });
      const source = unitsSource(broker.port, ctx, settings);
      await source.start();
      try {
        await waitFor(() => ctx.status.state === "up", { what: "subscribed" });
        await publishNumbers(broker.port, 0, 100);
        await waitFor(() => ctx.samples.length >= 100, { what: "100 samples" });
        assert.deepEqual(sortedValues(ctx), Array.from({ length: 100 }, (_, i) => i));
      } finally {
        await source.stop();
      }
    } finally {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
