import assert from "node:assert/strict";
import { sameValue } from "../../src/util/same_value.ts";

Deno.test("sameValue ignores the order of object keys and keeps the order of arrays", () => {
  assert.ok(sameValue({ a: 1, b: { c: [1, 2], d: "x" } }, { b: { d: "x", c: [1, 2] }, a: 1 }));
  assert.ok(!sameValue({ a: [1, 2] }, { a: [2, 1] }));
  assert.ok(!sameValue({ a: 1 }, { a: 1, b: 2 }));
  assert.ok(!sameValue({ a: 1, b: 2 }, { a: 1, c: 2 }));
  assert.ok(!sameValue({ a: "1" }, { a: 1 }));
  assert.ok(!sameValue([{ a: 1 }], { 0: { a: 1 } }));
  assert.ok(!sameValue(null, {}));
});

Deno.test("sameValue counts a key holding undefined as absent, as JSON does", () => {
  assert.ok(sameValue({ a: 1, b: undefined }, { a: 1 }));
  assert.ok(sameValue({ a: 1 }, { b: undefined, a: 1 }));
  assert.ok(!sameValue({ a: undefined }, { a: null }));
});
