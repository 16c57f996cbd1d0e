import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { loadMqtt } from "../../src/mqtt/load.ts";

Deno.test("mqtt-packet gets a no-op debug; other packages keep the real one", async () => {
  const mqtt = (await loadMqtt()).default;
  assert.equal(typeof mqtt.connect, "function");
  const here = createRequire(import.meta.url);
  const packet = createRequire(here.resolve("mqtt")).resolve("mqtt-packet");
  const quietDebug = createRequire(packet)("debug");
  // ioredis (outside the swap) still gets `debug` itself, which can be switched on.
  const realDebug = createRequire(here.resolve("ioredis"))("debug");
  assert.equal(typeof realDebug.enable, "function");
  assert.notEqual(quietDebug, realDebug);
  assert.equal(quietDebug.enable, undefined, "mqtt-packet's debug cannot be switched on");
  const quiet = quietDebug("mqtt-packet:parser");
  assert.equal(quiet.enabled, false);
  assert.equal(quiet("a %s", "trace"), undefined);
  assert.equal(quiet.extend("more").namespace, "mqtt-packet:parser:more");
});
