/** The worked examples of the Home Assistant and Venus pages are configs the gateway accepts. */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";

const PAGES = ["src/sinks/homeassistant/README.md", "src/sinks/venus/README.md"];
const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("every whole config (a yaml block starting with gateway:) in the sink pages parses", () => {
  Deno.env.set("HA_MQTT_PASSWORD", "example");
  Deno.env.set("VENUS_MQTT_PASSWORD", "example");
  for (const page of PAGES) {
    const blocks = [...Deno.readTextFileSync(`${ROOT}${page}`).matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1]).filter((b) => b.startsWith("gateway:"));
    assert.ok(blocks.length > 0, `${page}: no worked example`);
    for (const block of blocks) {
      assert.doesNotThrow(() => parseConfig(block, gatewaySchema), `${page}: ${block}`);
    }
  }
});
