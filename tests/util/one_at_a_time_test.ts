import assert from "node:assert/strict";
import { OneAtATime } from "../../src/util/one_at_a_time.ts";

/** A task that waits until released, counting how many run at once. */
function gatedTask() {
  const state = { running: 0, most: 0, runs: 0, gates: [] as (() => void)[] };
  const task = async () => {
    state.running++;
    state.most = Math.max(state.most, state.running);
    const run = ++state.runs;
    await new Promise<void>((r) => state.gates.push(r));
    state.running--;
    return run;
  };
  return { state, task, release: () => state.gates.shift()?.() };
}

Deno.test("sixty calls while one run is in progress make one more run, never two at once", async () => {
  const { state, task, release } = gatedTask();
  const runs = new OneAtATime(task, () => -1);
  const first = runs.run();
  const rest = Array.from({ length: 60 }, () => runs.run());
  release();
  assert.equal(await first, 1);
  await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
  release();
  const answers = await Promise.all(rest);
  assert.deepEqual(new Set(answers), new Set([2]), "every later call shares the second run");
  assert.equal(state.most, 1);
  assert.deepEqual(runs.counts, { runs: 2, coalesced: 59 });
  // Idle again: the next call runs at once.
  const again = runs.run();
  release();
  assert.equal(await again, 3);
});

Deno.test("a failed run does not stop the one asked after it; close refuses and waits", async () => {
  let n = 0;
  let fail: (e: Error) => void = () => {};
  const runs = new OneAtATime<number>(
    () => ++n === 1 ? new Promise((_, reject) => fail = reject) : Promise.resolve(n),
    () => -1,
  );
  const first = runs.run();
  const second = runs.run();
  fail(new Error("bad file"));
  await assert.rejects(first, /bad file/);
  assert.equal(await second, 2);
  await runs.close();
  assert.equal(await runs.run(), -1, "refused once closed");
});
