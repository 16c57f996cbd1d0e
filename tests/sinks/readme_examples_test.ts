/** The worked examples of the Home Assistant and Venus pages are configs the gateway accepts. */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { HA_WRITES_ACL, VENUS_WRITES_ACL } from "../helpers/mosquitto.ts";

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

Deno.test("the ACLs the sink pages give are the ones the write tests run mosquitto with", () => {
  // The fenced blocks without a language, read fence by fence (a closing fence opens nothing).
  const blocks = (page: string) => {
    const out: string[] = [];
    let open: { lang: string; lines: string[] } | undefined;
    for (const line of Deno.readTextFileSync(`${ROOT}${page}`).split("\n")) {
      const fence = /^```(\w*)$/.exec(line);
      if (fence && !open) open = { lang: fence[1], lines: [] };
      else if (fence && open) {
        if (open.lang === "") out.push(open.lines.map((l) => `${l}\n`).join(""));
        open = undefined;
      } else open?.lines.push(line);
    }
    return out;
  };
  for (
    const [page, acl, name] of [
      ["src/sinks/venus/README.md", VENUS_WRITES_ACL, "VENUS_WRITES_ACL"],
      ["src/sinks/homeassistant/README.md", HA_WRITES_ACL, "HA_WRITES_ACL"],
    ]
  ) {
    assert.ok(
      blocks(page).includes(acl),
      `${page}: no block is tests/helpers/mosquitto.ts ${name} word for word: make them one text`,
    );
  }
});
