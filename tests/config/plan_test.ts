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

Deno.test("a source's maps written in another order restart nothing; a changed value restarts it", () => {
  const prev = config(`
sources:
  scada:
    type: redis_keys
    patterns: ["x:*"]
    interval: 5s
    mappings:
      - {match: "^x:(.*)$", node: "$1", tags: {site: a, rack: "1"}, fields: {t: temp, h: hum}}
      - {match: "^y:(.*)$"}
sinks:
  x: {type: webhook, url: "http://127.0.0.1:9/x", headers: {A: "1", B: "2"}}
`);
  const reordered = config(`
sinks:
  x: {headers: {B: "2", A: "1"}, url: "http://127.0.0.1:9/x", type: webhook}
sources:
  scada:
    mappings:
      - {fields: {h: hum, t: temp}, tags: {rack: "1", site: a}, node: "$1", match: "^x:(.*)$"}
      - {match: "^y:(.*)$"}
    interval: 5s
    patterns: ["x:*"]
    type: redis_keys
`);
  assert.deepEqual(changedComponents(planReload(prev, reordered)), []);

  const changed = config(`
sources:
  scada:
    type: redis_keys
    patterns: ["x:*"]
    interval: 5s
    mappings:
      - {match: "^x:(.*)$", node: "$1", tags: {site: b, rack: "1"}, fields: {t: temp, h: hum}}
      - {match: "^y:(.*)$"}
sinks:
  x: {type: webhook, url: "http://127.0.0.1:9/x", headers: {B: "2", A: "1"}}
`);
  assert.deepEqual(planReload(prev, changed).sources.change, ["scada"]);
  assert.deepEqual(planReload(prev, changed).sinks.change, []);

  // A list's order is meaningful (the first matching mapping wins).
  const swapped = config(`
sources:
  scada:
    type: redis_keys
    patterns: ["x:*"]
    interval: 5s
    mappings:
      - {match: "^y:(.*)$"}
      - {match: "^x:(.*)$", node: "$1", tags: {site: a, rack: "1"}, fields: {t: temp, h: hum}}
sinks:
  x: {type: webhook, url: "http://127.0.0.1:9/x", headers: {A: "1", B: "2"}}
`);
  assert.deepEqual(planReload(prev, swapped).sources.change, ["scada"]);
});

Deno.test("sections compare by value: an outbox or log map reordered needs no restart", () => {
  const prev = config(
    BASE + `
outbox: {max_bytes: 1MiB, max_age: 1d}
log: {level: debug, format: json}
`,
  );
  const next = config(
    `
log: {format: json, level: debug}
outbox: {max_age: 1d, max_bytes: 1MiB}
` + BASE,
  );
  const plan = planReload(prev, next);
  assert.deepEqual(plan.restartRequired, []);
  assert.equal(plan.log, false);
});
