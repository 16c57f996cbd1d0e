import assert from "node:assert/strict";
import { SeriesStamps } from "../src/stamps.ts";
import { FakeClock } from "../src/util/clock.ts";
import { WallClock } from "../src/util/wall_clock.ts";

Deno.test("samples of one node in one millisecond get distinct stamps, one microsecond apart", () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const stamps = new SeriesStamps(clock);
  const got = Array.from({ length: 5 }, () => stamps.next("a"));
  const us = got.map((t) => Math.round(t * 1000));
  assert.deepEqual(us.map((u) => u - us[0]), [0, 1, 2, 3, 4]);
  // Another node is its own series: it may share the millisecond.
  assert.equal(stamps.next("b"), clock.now());
});

Deno.test("a later arrival is stamped with its own time; an earlier one never goes back", () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const stamps = new SeriesStamps(clock);
  const t0 = clock.now();
  assert.equal(stamps.next("a", t0 + 5), t0 + 5);
  // A device record read at an earlier instant (queued) still comes after the last stamp.
  assert.equal(Math.round(stamps.next("a", t0) * 1000), (t0 + 5) * 1000 + 1);
  assert.equal(stamps.next("a", t0 + 10), t0 + 10);
});

Deno.test("stamps survive a JSON round trip exactly (what the outbox stores)", () => {
  const stamps = new SeriesStamps(new FakeClock(1_795_000_000_123));
  for (let i = 0; i < 2000; i++) {
    const ts = stamps.next("n");
    const back = JSON.parse(JSON.stringify({ ts })).ts as number;
    assert.equal(Math.round(back * 1000), Math.round(ts * 1000));
  }
});

Deno.test("settled nodes are forgotten: memory is bounded by the arrival rate, not the node count", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const stamps = new SeriesStamps(clock);
  for (let i = 0; i < 60_000; i++) {
    stamps.next(`node-${i}`);
    if (i % 10_000 === 0) await clock.advance(2000);
  }
  assert.ok(stamps.size <= 50_001, `remembered ${stamps.size}`);
});

Deno.test("a flood of distinct nodes within one second costs pruning under two looks per node, not a scan each", () => {
  // 200,000 new nodes in the same millisecond: none settles, so none may be forgotten. A scan
  // of the whole map per new node past 50,000 was 150,000 x 50,000 looks.
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const stamps = new SeriesStamps(clock);
  const nodes = 200_000;
  for (let i = 0; i < nodes; i++) stamps.next(`node-${i}`);
  assert.equal(stamps.size, nodes, "nothing unsettled is forgotten");
  assert.ok(stamps.examined <= 2 * nodes, `pruning looked at ${stamps.examined} entries`);
  // Each node's next stamp still comes after its last.
  assert.ok(stamps.next("node-0") > clock.now());
});

Deno.test("a steady flood over many seconds: memory follows the rate, pruning stays under two looks per node", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const stamps = new SeriesStamps(clock);
  const nodes = 400_000;
  let peak = 0;
  for (let i = 0; i < nodes; i++) {
    stamps.next(`node-${i}`);
    if (i % 1000 === 999) await clock.advance(20); // 50,000 new nodes a second
    peak = Math.max(peak, stamps.size);
  }
  assert.ok(stamps.examined <= 2 * nodes, `pruning looked at ${stamps.examined} entries`);
  // A second's 50,000 nodes, at most twice over (the next prune waits for the map to double).
  assert.ok(peak <= 2 * 51_000, `remembered ${peak} at the peak`);
});

Deno.test("a node forgotten after it settled, and one stamped since, are both stamped on correctly", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const stamps = new SeriesStamps(clock);
  for (let i = 0; i < 50_000; i++) stamps.next(`node-${i}`);
  await clock.advance(2000);
  const kept = stamps.next("node-0"); // stamped again: not settled
  const fresh = stamps.next("new"); // a new node prunes the settled ones
  assert.equal(stamps.size, 2);
  assert.equal(fresh, clock.now());
  assert.equal(Math.round(stamps.next("node-0") * 1000), Math.round(kept * 1000) + 1);
  assert.equal(stamps.next("node-1"), clock.now(), "forgotten: its time, after its old stamp");
});

Deno.test("the first arrival after a step back of the wall clock is stamped on from the last, not bunched after it", async () => {
  const base = new FakeClock(Date.UTC(2026, 0, 1));
  const clock = new WallClock(base);
  const stamps = new SeriesStamps(clock);
  const first = stamps.next("a");
  await base.advance(1000);
  base.step(-3_600_000); // seen by the stamp, before the clock's own check
  assert.equal(stamps.next("a"), first + 1000);
  assert.equal(clock.steps, 1);
  await base.advance(1000);
  assert.equal(stamps.next("a"), first + 1500, "then at half speed");
});
