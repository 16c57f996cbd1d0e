import assert from "node:assert/strict";
import { BatchEmitter } from "../../src/sources/emitter.ts";
import { waitFor } from "../helpers/server.ts";

Deno.test("while one batch is being handed over, the next gathers and goes as soon as it is done", async () => {
  const batches: number[][] = [];
  let release: () => void = () => {};
  const emitter = new BatchEmitter<number>({
    handle: (batch) => {
      batches.push(batch);
      return batches.length === 1 ? new Promise((r) => release = r) : Promise.resolve();
    },
    batch: 100,
    maxWait: 0,
    maxQueued: 1000,
    onFull: "refuse",
  });
  emitter.push(0);
  await waitFor(() => batches.length === 1, { what: "the first hand-over" });
  for (let i = 1; i <= 250; i++) emitter.push(i);
  assert.deepEqual(batches.map((b) => b.length), [1]);
  release();
  await emitter.drain();
  assert.deepEqual(batches.map((b) => b.length), [1, 100, 100, 50]);
  assert.deepEqual(batches.flat(), Array.from({ length: 251 }, (_, i) => i));
});

Deno.test("bounded in items and bytes: refuse says so, drop_oldest counts what it dropped", async () => {
  let hold = true;
  let handed = 0;
  const gate = Promise.withResolvers<void>();
  const refusing = new BatchEmitter<string>({
    handle: () => (handed++, hold ? gate.promise : Promise.resolve()),
    batch: 1,
    maxWait: 0,
    maxQueued: 100,
    maxBytes: 10,
    sizeOf: (s) => s.length,
    onFull: "refuse",
  });
  refusing.push("first"); // taken into the hand-over that hangs
  await waitFor(() => handed === 1, { what: "the hanging hand-over" });
  assert.equal(refusing.push("12345"), true);
  assert.equal(refusing.push("67890"), true);
  assert.equal(refusing.full, true);
  assert.equal(refusing.push("x"), false);
  const room = refusing.room();
  hold = false;
  gate.resolve();
  await room;
  await refusing.drain();
  assert.equal(refusing.bytes, 0);

  let dropped = 0;
  let taken = 0;
  const dropping = new BatchEmitter<number>({
    handle: () => (taken++, new Promise(() => {})),
    batch: 1,
    maxWait: 0,
    maxQueued: 3,
    onFull: "drop_oldest",
    dropped: (n) => dropped += n,
  });
  dropping.push(0);
  await waitFor(() => taken === 1, { what: "the hand-over that never ends" });
  for (let i = 1; i <= 10; i++) dropping.push(i);
  assert.equal(dropping.queued, 3);
  assert.equal(dropped, 7);
});
