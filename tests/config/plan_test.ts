import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { changedComponents, planReload } from "../../src/config/plan.ts";
import { gatewaySchema } from "../../src/config/schema.ts";

const config = (yaml: string) => parseConfig(yaml, gatewaySchema, { env: () => undefined });

const BASE = `
sources:
  a: {type: vedirect, simulate: mppt}
  b: {type: vedirect, simulate: bmv}
sinks:
  x: {type: webhook, url: "http://127.0.0.1:9/x"}
  y: {type: webhook, url: "http://127.0.0.1:9/y"}
`;

Deno.test("the same config plans nothing", () => {
  const plan = planReload(config(BASE), config(BASE));
  assert.deepEqual(changedComponents(plan), []);
  assert.deepEqual(plan.restartRequired, []);
  assert.equal(plan.log, false);
});

Deno.test("added, removed and changed sources and sinks are told apart", () => {
  const next = config(`
sources:
  a: {type: vedirect, simulate: mppt, interval: 2s}
  c: {type: vedirect, simulate: bmv}
sinks:
  x: {type: webhook, url: "http://127.0.0.1:9/x"}
  z: {type: webhook, url: "http://127.0.0.1:9/z"}
`);
  const plan = planReload(config(BASE), next);
  assert.deepEqual(plan.sources, { start: ["c"], stop: ["b"], change: ["a"] });
  assert.deepEqual(plan.sinks, { start: ["z"], stop: ["y"], change: [] });
  assert.deepEqual(changedComponents(plan).sort(), [
    "sink.y",
    "sink.z",
    "source.a",
    "source.b",
    "source.c",
  ]);
});

Deno.test("gateway, http, store, outbox and events need a restart; log applies at once", () => {
  const next = config(
    BASE + `
http: {port: 9999}
outbox: {max_bytes: 1MiB}
log: {level: debug}
`,
  );
  const plan = planReload(config(BASE), next);
  assert.deepEqual(plan.restartRequired, ["http", "outbox"]);
  assert.equal(plan.log, true);
  assert.deepEqual(changedComponents(plan), []);
});
