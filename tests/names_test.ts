import assert from "node:assert/strict";
import { join, normalize } from "node:path";
import { fromSegment, nameProblem, pathSegment } from "../src/names.ts";

const HOSTILE = [
  "..",
  ".",
  "...",
  "",
  "a/../../etc",
  "../x",
  "x/..",
  "a\u0000b",
  "%2e%2e",
  "%2F",
  "a\\..\\b",
  "\u2024\u2024", // one dot leader, twice: looks like ".."
  "\uff0e\uff0e", // fullwidth full stops
  "x".repeat(1024),
];

Deno.test("no outside name, however hostile, leaves its directory as a path segment", () => {
  const base = "/data/frames";
  const seen = new Set<string>();
  for (const name of HOSTILE) {
    const seg = pathSegment(name);
    assert.ok(!/[/\\%]/.test(seg), `${JSON.stringify(name)} -> ${seg}`);
    assert.ok(seg !== "." && seg !== ".." && seg !== "", `${JSON.stringify(name)} -> ${seg}`);
    const path = normalize(join(base, seg, "frame.jpg"));
    assert.ok(path.startsWith(base + "/"), `${JSON.stringify(name)} -> ${path}`);
    seen.add(seg);
  }
  assert.equal(seen.size, HOSTILE.length, "distinct names stay distinct");
});

Deno.test("ordinary names keep their spelling (existing object keys do not move)", () => {
  for (const name of ["mppt1", "0b6e1c2a-7f3d-4c1e-9a8b-1234567890ab", "site.a", "Küche 2"]) {
    assert.equal(pathSegment(name), name);
  }
  assert.equal(pathSegment("a/b"), "a~2Fb");
  assert.equal(pathSegment(".."), "~2E~2E");
  // No `%` is left: a client that URL-decodes keys cannot make `..` of one.
  assert.equal(pathSegment("%2e%2e"), "~252e~252e");
  for (const name of HOSTILE) assert.equal(fromSegment(pathSegment(name)), name);
});

Deno.test("names are bounded and free of control characters", () => {
  assert.equal(nameProblem("mppt1"), null);
  assert.equal(nameProblem(".."), null, "allowed: it is encoded where it becomes a path");
  assert.equal(nameProblem(""), "empty");
  assert.match(nameProblem("x".repeat(1024))!, /longer than 256/);
  assert.equal(nameProblem("a\u0000b"), "control characters");
  assert.equal(nameProblem("a\nb"), "control characters");
});
