import assert from "node:assert/strict";
import { FakeClock, shiftedClock } from "../../src/util/clock.ts";

Deno.test("a fake clock wakes sleepers in time order and only when advanced past them", async () => {
  const clock = new FakeClock(1000);
  const woke: string[] = [];
  const a = clock.sleep(300).then(() => woke.push(`a@${clock.now()}`));
  const b = clock.sleep(100).then(() => woke.push(`b@${clock.now()}`));
  await clock.advance(99);
  assert.deepEqual(woke, []);
  await clock.advance(150);
  assert.deepEqual(woke, ["b@1100"]);
  await clock.advance(1000);
  await Promise.all([a, b]);
  assert.deepEqual(woke, ["b@1100", "a@1300"]);
  assert.equal(clock.now(), 2249);
});

Deno.test("an aborted fake sleep resolves at once and is forgotten", async () => {
  const clock = new FakeClock();
  const abort = new AbortController();
  const sleeping = clock.sleep(60_000, { signal: abort.signal });
  assert.equal(clock.waiting, 1);
  abort.abort();
  await sleeping;
  assert.equal(clock.waiting, 0);
});

Deno.test("a shifted clock starts at the given instant and runs at real speed", async () => {
  const at = Date.UTC(2026, 0, 15, 2);
  const clock = shiftedClock(at);
  assert.ok(Math.abs(clock.now() - at) < 50);
  await clock.sleep(20);
  assert.ok(clock.now() - at >= 19);
});
