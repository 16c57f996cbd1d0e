import assert from "node:assert/strict";
import {
  BatchPacker,
  BatchUnpacker,
  type WireMessage,
} from "../../../src/sources/mqtt/ingest_messages.ts";

const enc = new TextEncoder();

function crossed(packer: BatchPacker, unpacker: BatchUnpacker): WireMessage[] {
  const out: WireMessage[] = [];
  const batch = packer.take();
  // What a Worker posts is cloned: the buffer arrives as another one.
  const copy = structuredClone(batch, { transfer: [batch.buffer] });
  unpacker.unpack(copy, (m) => out.push({ ...m, payload: m.payload.slice() }));
  return out;
}

Deno.test("a batch crosses as one buffer: topics, payloads, packet ids, numbers and DUP flags intact", () => {
  const packer = new BatchPacker();
  const unpacker = new BatchUnpacker();
  const sent: WireMessage[] = [
    { topic: "pepeunit/a/pepeunit", payload: enc.encode("21.5"), id: 7, seq: 1, dup: false },
    {
      topic: "pepeunit/b/pepeunit",
      payload: new Uint8Array(0),
      id: undefined,
      seq: undefined,
      dup: false,
    },
    {
      topic: "pepeunit/a/pepeunit",
      payload: new Uint8Array([0, 255, 10]),
      id: 65535,
      seq: undefined,
      dup: true,
    },
  ];
  for (const m of sent) packer.add(m);
  assert.equal(packer.size, 3);
  assert.deepEqual(crossed(packer, unpacker), sent);
  assert.equal(packer.size, 0);
  // The next batch names known topics by number only.
  packer.add({ topic: "pepeunit/b/pepeunit", payload: enc.encode("x"), seq: 2, dup: false });
  const next = packer.take();
  assert.deepEqual(next.topics, []);
  const out: WireMessage[] = [];
  unpacker.unpack(next, (m) => out.push(m));
  assert.equal(out[0].topic, "pepeunit/b/pepeunit");
  assert.equal(out[0].seq, 2);
});

Deno.test("the topic table starts again once full (topics come from outside): bounded, still right", () => {
  const packer = new BatchPacker();
  const unpacker = new BatchUnpacker();
  const topic = (i: number) => `site/${i}/data`;
  for (let i = 0; i < 5000; i++) {
    packer.add({ topic: topic(i), payload: enc.encode(String(i)), dup: false });
  }
  assert.equal(crossed(packer, unpacker).length, 5000);
  for (const i of [4999, 7, 6000]) {
    packer.add({ topic: topic(i), payload: enc.encode(String(i)), dup: false });
  }
  const batch = packer.take();
  assert.equal(batch.reset, true);
  assert.deepEqual(batch.topics, [topic(4999), topic(7), topic(6000)]);
  const out: string[] = [];
  unpacker.unpack(batch, (m) => out.push(`${m.topic}=${new TextDecoder().decode(m.payload)}`));
  assert.deepEqual(out, ["site/4999/data=4999", "site/7/data=7", "site/6000/data=6000"]);
});
