import assert from "node:assert/strict";
import { FakeClock } from "../../src/util/clock.ts";
import {
  CATCH_UP_RATE,
  MAX_CATCH_UP_MS,
  timesyncState,
  WallClock,
} from "../../src/util/wall_clock.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

Deno.test("time that runs on without a step is the wall clock's, and no step is seen", async () => {
  const base = new FakeClock();
  const clock = new WallClock(base, { synchronized: () => true });
  await base.advance(5000);
  assert.equal(clock.check(), null);
  assert.equal(clock.now(), base.now());
  // Slewing (NTP's small corrections) is no step.
  base.step(200);
  assert.equal(clock.check(), null);
  assert.equal(clock.steps, 0);
  assert.deepEqual(clock.toJSON(), {
    synchronized: true,
    steps: 0,
    last_step: null,
    catching_up_ms: 0,
    before_sync: null,
  });
});

Deno.test("a step forward is followed at once and reported with its size", async () => {
  const base = new FakeClock();
  const seen: number[] = [];
  const clock = new WallClock(base, { onStep: (s) => seen.push(s.byMs) });
  await base.advance(1000);
  base.step(2 * DAY);
  const step = clock.check();
  assert.equal(step?.byMs, 2 * DAY);
  assert.deepEqual(seen, [2 * DAY]);
  assert.equal(clock.now(), base.now());
  const json = clock.toJSON();
  assert.equal(json.steps, 1);
  assert.deepEqual(json.last_step, { at: new Date(base.now()).toISOString(), by_ms: 2 * DAY });
});

Deno.test("a step back never takes the time back: it runs slower until the wall clock catches up", async () => {
  const base = new FakeClock();
  const clock = new WallClock(base);
  await base.advance(10_000);
  const before = clock.now();
  base.step(-HOUR);
  assert.equal(clock.check()?.byMs, -HOUR);
  assert.equal(clock.now(), before, "the time goes on from where it was");
  let last = clock.now();
  for (let i = 0; i < 100; i++) {
    await base.advance(60_000);
    const now = clock.now();
    assert.ok(now > last, "the time keeps increasing");
    assert.equal(now - last, 60_000 * (1 - CATCH_UP_RATE));
    last = now;
  }
  assert.ok(clock.toJSON().catching_up_ms > 0);
  await base.advance(HOUR / CATCH_UP_RATE);
  assert.equal(clock.now(), base.now(), "caught up: the wall clock's time again");
  assert.equal(clock.toJSON().catching_up_ms, 0);
  await base.advance(1000);
  assert.equal(clock.now(), base.now());
});

Deno.test("a step forward while catching up first pays off what is owed", () => {
  const base = new FakeClock();
  const clock = new WallClock(base);
  base.step(-HOUR);
  clock.check();
  const before = clock.now();
  base.step(2 * HOUR);
  assert.equal(clock.check()?.jump, HOUR);
  assert.equal(clock.now(), before + HOUR);
  assert.equal(clock.now(), base.now());
});

Deno.test("the settled time leaves out recent forward steps: ages and grace are not eaten by them", async () => {
  const base = new FakeClock();
  const clock = new WallClock(base);
  await base.advance(1000);
  base.step(2 * DAY);
  const wall = base.now();
  assert.equal(clock.settledNow(10_000), wall - 2 * DAY, "the step is seen by settledNow itself");
  assert.equal(clock.settledNow(26 * HOUR), wall - 2 * DAY);
  await base.advance(11_000);
  assert.equal(clock.settledNow(10_000), base.now(), "the grace has passed: the wall clock's time");
  assert.equal(clock.settledNow(26 * HOUR), base.now() - 2 * DAY);
  await base.advance(26 * HOUR);
  assert.equal(clock.settledNow(26 * HOUR), base.now());
  // A step back is never a jump of the gateway's time: nothing to leave out.
  base.step(-HOUR);
  assert.equal(clock.settledNow(26 * HOUR), clock.now());
});

Deno.test("the first step of a clock not yet synchronised says which stamps were off, and by how much", async () => {
  const base = new FakeClock(Date.UTC(2026, 0, 1));
  let synced = false;
  const clock = new WallClock(base, { synchronized: () => synced });
  await base.advance(60_000);
  synced = true; // timesyncd writes its flag when it steps the clock
  base.step(2 * DAY);
  const step = clock.check();
  assert.equal(step?.wasSynchronized, false);
  const json = clock.toJSON();
  assert.equal(json.synchronized, true);
  assert.deepEqual(json.before_sync, {
    from: "2026-01-01T00:00:00.000Z",
    to: "2026-01-01T00:01:00.000Z",
    by_ms: 2 * DAY,
  });
  // Later steps of a synchronised clock are plain steps.
  base.step(-5000);
  clock.check();
  assert.equal(clock.toJSON().before_sync?.by_ms, 2 * DAY);
  assert.equal(clock.toJSON().steps, 2);
});

Deno.test("timesyncd's flag file tells whether the clock is synchronised; no timesyncd is unknown", async () => {
  const dir = await Deno.makeTempDir();
  assert.equal(timesyncState(`${dir}/missing`), null);
  assert.equal(timesyncState(dir), false);
  await Deno.writeTextFile(`${dir}/synchronized`, "");
  assert.equal(timesyncState(dir), true);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a step back of more than a day is followed: the time before it was wrong", async () => {
  const base = new FakeClock(Date.UTC(2038, 0, 19)); // a battery clock's garbage
  const clock = new WallClock(base);
  await base.advance(1000);
  base.step(-(MAX_CATCH_UP_MS + HOUR));
  const step = clock.check();
  assert.equal(step?.catchUpMs, 0);
  assert.equal(clock.now(), base.now());
  assert.equal(clock.toJSON().catching_up_ms, 0);
  // Nothing ages faster for it: a step back is never left out of the settled time.
  assert.equal(clock.settledNow(DAY), clock.now());
});
