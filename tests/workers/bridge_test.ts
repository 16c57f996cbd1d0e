/**
 * The Worker bridge every Worker of ours uses (sinks, MQTT ingest): init answered or thrown,
 * calls answered in order, errors crossing as their class, events and log lines passed on, a
 * Worker that dies failing the calls in the air.
 */
import assert from "node:assert/strict";
import { RejectedError, RetryableError } from "../../src/errors.ts";
import type { Logger } from "../../src/log.ts";
import { WorkerBridge, WorkerStuckError } from "../../src/workers/bridge.ts";

const MODULE = new URL("./bridge_worker.ts", import.meta.url);

function recordingLog(lines: string[]): Logger {
  const line = (msg: string, fields?: Record<string, unknown>) =>
    lines.push(`${msg} ${JSON.stringify(fields)}`);
  const log: Logger = { debug: line, info: line, warn: line, error: line, child: () => log };
  return log;
}

Deno.test("bridge: init answers, calls are answered in order, events and log lines come over", async () => {
  const events: unknown[] = [];
  const lines: string[] = [];
  const bridge = new WorkerBridge(MODULE, {
    name: "test",
    onEvent: (e) => events.push(e),
    log: recordingLog(lines),
  });
  try {
    assert.equal(await bridge.start({ prefix: "> " }), "ready");
    assert.ok(bridge.running);
    const answers = await Promise.all(["a", "b", "c"].map((t) => bridge.call("echo", t)));
    assert.deepEqual(answers, ["> a", "> b", "> c"]);
    assert.deepEqual(events, [{ echoed: "a" }, { echoed: "b" }, { echoed: "c" }]);
    await bridge.call("log", "from the worker");
    assert.deepEqual(lines, ['from the worker {"where":"worker"}']);
  } finally {
    await bridge.close();
  }
  assert.equal(bridge.running, false);
});

Deno.test("bridge: an init that throws rejects the start with the same class, and ends the Worker", async () => {
  const bridge = new WorkerBridge(MODULE, { name: "test" });
  await assert.rejects(bridge.start({ prefix: "", fail: true }), (e) => {
    assert.ok(e instanceof RejectedError);
    assert.equal(e.status, 400);
    assert.match(e.message, /sinks\.x: bad pattern/);
    return true;
  });
  assert.equal(bridge.running, false);
});

Deno.test("bridge: a failed call throws the Worker's error class with its figures", async () => {
  const bridge = new WorkerBridge(MODULE, { name: "test" });
  try {
    await bridge.start({ prefix: "" });
    await assert.rejects(bridge.call("retry"), (e) => {
      assert.ok(e instanceof RetryableError);
      assert.equal(e.retryAfterMs, 1500);
      return true;
    });
    await assert.rejects(bridge.call("nothing"), /no call "nothing"/);
    assert.equal(await bridge.call("echo", "still here"), "still here");
  } finally {
    await bridge.close();
  }
});

Deno.test("bridge: a Worker that dies fails the calls in the air and says so; it can be started again", async () => {
  const exits: Error[] = [];
  const bridge = new WorkerBridge(MODULE, { name: "test", onExit: (e) => exits.push(e) });
  try {
    await bridge.start({ prefix: "" });
    await assert.rejects(bridge.call("die"), /test: its Worker stopped: .*boom/);
    assert.equal(exits.length, 1);
    assert.equal(bridge.running, false);
    await assert.rejects(bridge.call("echo", "x"), /no Worker running/);
    await bridge.start({ prefix: "again " });
    assert.equal(await bridge.call("echo", "x"), "again x");
  } finally {
    await bridge.close();
  }
});

Deno.test("bridge: a Worker stuck in synchronous code fails its call past the deadline, is ended, and starts again", async () => {
  const exits: Error[] = [];
  const bridge = new WorkerBridge(MODULE, { name: "sink x", onExit: (e) => exits.push(e) });
  try {
    await bridge.start({ prefix: "" });
    const stuck = bridge.call("spin", undefined, { answerWithinMs: 300 });
    const queued = bridge.call("echo", "behind the stuck one");
    await assert.rejects(stuck, (e) => {
      assert.ok(e instanceof WorkerStuckError);
      assert.match(e.message, /^sink x: its Worker did not answer "spin" within 0\.3 s/);
      return true;
    });
    // The call queued behind it failed as well, and the owner heard the Worker ended.
    await assert.rejects(queued, WorkerStuckError);
    assert.equal(exits.length, 1);
    assert.equal(bridge.running, false);
    await bridge.start({ prefix: "again " }, { answerWithinMs: 5000 });
    assert.equal(await bridge.call("echo", "x", { answerWithinMs: 5000 }), "again x");
  } finally {
    await bridge.close();
  }
});

Deno.test("bridge: a Worker busy past the deadline but posting meanwhile is not taken as stuck", async () => {
  const events: unknown[] = [];
  const bridge = new WorkerBridge(MODULE, { name: "test", onEvent: (e) => events.push(e) });
  try {
    await bridge.start({ prefix: "" });
    // 8 beats 250 ms apart: about 2 s in all, never 1.5 s silent.
    const answer = await bridge.call("beat", { beats: 8, everyMs: 250 }, { answerWithinMs: 1500 });
    assert.equal(answer, "done");
    assert.equal(events.length, 8);
    assert.ok(bridge.running);
  } finally {
    await bridge.close();
  }
});
