/**
 * The embedded store's raw seconds (issue #37): the open minute waits in memory, a closed one is
 * written once as one deflated block per node, late data merges into its block, memory is bounded.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { FieldValue } from "../../src/model.ts";
import { RawSeconds } from "../../src/store/raw_seconds.ts";

const M0 = 1_767_225_600; // a minute boundary (s)

function open(maxRows = 3600) {
  const db = new DatabaseSync(":memory:");
  const raw = new RawSeconds(db, { maxRows, graceSeconds: 10, begin: () => {} });
  const blocks = () =>
    db.prepare("SELECT minute, node, n, length(data) AS bytes FROM blocks ORDER BY minute, node")
      .all()
      .map((r) => ({ minute: Number(r.minute), node: String(r.node), n: Number(r.n) }));
  return { db, raw, blocks };
}

function seconds(node: string, from: number, to: number, value: (s: number) => FieldValue) {
  const byNode = new Map<string, Map<number, Record<string, FieldValue>>>();
  const m = new Map<number, Record<string, FieldValue>>();
  for (let s = from; s < to; s++) m.set(s, { V: value(s), I: -1.5 });
  byNode.set(node, m);
  return byNode;
}

Deno.test("raw seconds: a minute is written once, as one block, after its end plus grace", () => {
  const { raw, blocks } = open();
  raw.put(seconds("n1", M0, M0 + 60, (s) => s - M0));
  raw.persist();
  assert.deepEqual(blocks(), []); // minute 0 still open: nothing newer than it yet
  raw.put(seconds("n1", M0 + 60, M0 + 70, (s) => s - M0));
  raw.persist();
  assert.deepEqual(blocks(), []); // the newest second is inside minute 0's grace
  raw.put(seconds("n1", M0 + 70, M0 + 71, (s) => s - M0));
  raw.persist();
  assert.deepEqual(blocks(), [{ minute: M0, node: "n1", n: 60 }]);
  // Readable the same from memory and block alike, across the boundary.
  const got = raw.seconds("n1", M0 + 58, M0 + 62);
  assert.deepEqual(got.map(([s, f]) => [s - M0, f.V]), [[58, 58], [59, 59], [60, 60], [61, 61]]);
  assert.deepEqual(raw.nodes(), ["n1"]);
  assert.deepEqual(raw.nodes({ from: M0 + 120, to: M0 + 180 }), []);
});

Deno.test("raw seconds: late data merges into the written block (later keys win)", () => {
  const { raw, blocks } = open();
  raw.put(seconds("n1", M0, M0 + 60, () => 1));
  raw.put(seconds("n1", M0 + 100, M0 + 101, () => 2)); // moves the newest second on
  raw.persist();
  raw.put(new Map([["n1", new Map([[M0 + 5, { V: 9, X: "late" }]])]]));
  raw.persist({ all: true });
  assert.deepEqual(raw.seconds("n1", M0 + 5, M0 + 6)[0][1], { V: 9, I: -1.5, X: "late" });
  assert.deepEqual(blocks().map((b) => b.n), [60, 1]);
});

Deno.test("raw seconds: max_rows drops the oldest whole blocks first, then held seconds", () => {
  const { raw, blocks } = open(90);
  raw.put(seconds("n1", M0, M0 + 130, (s) => s - M0));
  raw.persist();
  // 130 seconds held, 90 kept: the oldest 40 went from memory; minute 0 written with 20.
  assert.equal(raw.seconds("n1", M0, M0 + 300)[0][0] - M0, 40);
  assert.deepEqual(blocks(), [{ minute: M0, node: "n1", n: 20 }]);
  raw.put(seconds("n1", M0 + 130, M0 + 200, (s) => s - M0));
  raw.persist();
  // 70 more: minute 0's block went whole (20), then 50 held seconds (60..109).
  const kept = raw.seconds("n1", M0, M0 + 300).map(([s]) => s - M0);
  assert.equal(kept.length, 90);
  assert.equal(kept[0], 110);
  assert.deepEqual(blocks().map((b) => [b.minute - M0, b.n]), [[60, 10], [120, 60]]);
});

Deno.test("raw seconds: memory is bounded, open minutes are written past 10,000 held seconds", () => {
  const { raw, blocks } = open();
  for (let n = 0; n < 1000; n++) raw.put(seconds(`n${n}`, M0, M0 + 51, () => n));
  // Past 10,000 held seconds (every 197th node) all were written, though minute 0 is open.
  assert.equal(blocks().length, 985); // five rounds of 197 nodes
  assert.equal(raw.seconds("n999", M0, M0 + 60).length, 51);
});

Deno.test("raw seconds: the open minutes are journaled at each commit and held again after a crash", () => {
  const { db, raw } = open();
  raw.put(seconds("n1", M0, M0 + 30, (s) => s - M0));
  raw.journal();
  raw.put(seconds("n1", M0 + 30, M0 + 45, (s) => s - M0));
  raw.journal();
  const n2 = new Map<number, Record<string, FieldValue>>([
    [M0, { A: 1, B: 2 }],
    [M0 + 1, { A: 1 }],
    [M0 + 2, { A: 2, C: "x" }],
  ]);
  raw.put(new Map([["n2", n2]]));
  raw.journal();
  raw.put(seconds("n1", M0 + 45, M0 + 50, (s) => s - M0)); // not journaled: no commit yet
  const rows = () => Number(db.prepare("SELECT count(*) AS n FROM held").get()!.n);
  assert.equal(rows(), 3);
  // The process dies: a new one on the same file holds what the commits had.
  const again = new RawSeconds(db, { maxRows: 3600, graceSeconds: 10, begin: () => {} });
  const back = again.seconds("n1", M0, M0 + 60);
  assert.equal(back.length, 45);
  assert.deepEqual(back[44], [M0 + 44, { V: 44, I: -1.5 }]);
  assert.deepEqual(again.seconds("n2", M0, M0 + 60), [...n2]);
  // Once the minute is written as a block, its journal rows go.
  again.put(seconds("n1", M0 + 71, M0 + 72, (s) => s - M0));
  again.persist();
  assert.equal(rows(), 0);
  again.journal();
  again.persist({ all: true });
  assert.equal(rows(), 0);
  assert.equal(again.seconds("n1", M0, M0 + 60).length, 45);
});

Deno.test("raw seconds: a window's nodes come 1,000 at a time, every node once in order, written or held", () => {
  const { raw } = open();
  const node = (i: number) => `n${String(i).padStart(5, "0")}`;
  const minute = new Map<string, Map<number, Record<string, FieldValue>>>();
  for (let i = 0; i < 2500; i += 2) minute.set(node(i), new Map([[M0 + 5, { V: i }]]));
  raw.put(minute);
  raw.persist({ all: true }); // the even nodes written as blocks
  const late = new Map<string, Map<number, Record<string, FieldValue>>>();
  for (let i = 1; i < 2500; i += 2) late.set(node(i), new Map([[M0 + 6, { V: i }]]));
  raw.put(late); // the odd ones held in memory
  const seen = [...raw.eachNode(M0, M0 + 60)];
  assert.deepEqual(seen.map(([n]) => n), Array.from({ length: 2500 }, (_, i) => node(i)));
  assert.deepEqual(seen[1001], [node(1001), [[M0 + 6, { V: 1001 }]]]);
  assert.deepEqual(seen[2000], [node(2000), [[M0 + 5, { V: 2000 }]]]);
});
