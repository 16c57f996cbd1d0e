import assert from "node:assert/strict";
import { blockPairs, FrameParser } from "../../../src/sources/vedirect/frame.ts";

type TextBlock = [string, string][];
import { encodeHex } from "../../../src/sources/vedirect/hex.ts";
import { encodeBlock } from "../../../src/sources/vedirect/simulator.ts";
import { concatBytes } from "../../../src/util/bytes.ts";
import { VeDirectStream } from "../../../src/sources/vedirect/stream.ts";

const enc = new TextEncoder();

function concat(...parts: (Uint8Array | string)[]): Uint8Array {
  return concatBytes(parts.map((p) => typeof p === "string" ? enc.encode(p) : p));
}

function parse(
  bytes: Uint8Array,
  options: { synced?: boolean; validate?: boolean; chunk?: number } = {},
) {
  const blocks: TextBlock[] = [];
  const hex: string[] = [];
  const p = new FrameParser({
    onBlock: (b) => blocks.push(blockPairs(b)),
    onHex: (t) => hex.push(t),
    validateChecksum: options.validate,
  });
  if (options.synced ?? true) p.silence();
  const step = options.chunk ?? bytes.length;
  for (let i = 0; i < bytes.length; i += step) p.push(bytes.subarray(i, i + step), 0);
  return { blocks, hex, counters: p.counters };
}

/** A valid block whose checksum byte is `want`, found by choosing four letters of a serial. */
function blockWithChecksum(want: number): Uint8Array {
  const base = encodeBlock([["PID", "0xA053"], ["SER#", "HQ"], ["V", "12800"]]);
  const bodySum = (256 - base[base.length - 1]) % 256; // sum of the bytes before the checksum
  const target = (((256 - want) % 256 - bodySum) % 256 + 256) % 256;
  let total = target;
  while (total < 0x30 * 4) total += 256; // four chars in 0x30..0x7a sum to 192..488
  const chars: number[] = [];
  for (let i = 0; i < 4; i++) {
    const c = Math.min(0x7a, total - 0x30 * (3 - i));
    chars.push(c);
    total -= c;
  }
  const block = encodeBlock([
    ["PID", "0xA053"],
    ["SER#", "HQ" + String.fromCharCode(...chars)],
    ["V", "12800"],
  ]);
  assert.equal(block[block.length - 1], want);
  return block;
}

const MPPT = encodeBlock([["PID", "0xA053"], ["V", "12800"], ["I", "1500"], ["CS", "3"]]);

Deno.test("a valid block is emitted with its fields in order", () => {
  const { blocks, counters } = parse(MPPT);
  assert.deepEqual(blocks, [[["PID", "0xA053"], ["V", "12800"], ["I", "1500"], ["CS", "3"]]]);
  assert.equal(counters.blocks_ok, 1);
  assert.equal(counters.checksum_errors, 0);
});

for (
  const [name, byte] of [
    ["LF", 0x0a],
    ["CR", 0x0d],
    ["TAB", 0x09],
    ["colon", 0x3a],
    ["NUL", 0x00],
    ["0xFF", 0xff],
    ["0x80 (non-ASCII)", 0x80],
  ] as const
) {
  Deno.test(`a checksum byte equal to ${name} is read as the checksum, not as syntax`, () => {
    const block = blockWithChecksum(byte);
    const { blocks, counters } = parse(concat(block, MPPT));
    assert.equal(blocks.length, 2);
    assert.equal(counters.checksum_errors, 0);
  });
}

Deno.test("a corrupted byte fails the checksum and the block's fields never leak into the next", () => {
  const bad = MPPT.slice();
  bad[12] ^= 0x01; // inside a value
  const next = encodeBlock([["PID", "0x204"], ["SOC", "990"]]);
  const { blocks, counters } = parse(concat(bad, next));
  assert.deepEqual(blocks, [[["PID", "0x204"], ["SOC", "990"]]]);
  assert.equal(counters.checksum_errors, 1);
});

Deno.test("a HEX message glued to the checksum byte is excluded from the text checksum", () => {
  const hex = encodeHex(0xa, new Uint8Array([0xd5, 0xed, 0x00, 0x10, 0x05]));
  const { blocks, hex: msgs, counters } = parse(concat(MPPT, hex, MPPT));
  assert.equal(blocks.length, 2);
  assert.equal(msgs.length, 1);
  assert.equal(counters.hex_messages, 1);
  assert.equal(counters.checksum_errors, 0);
});

Deno.test("a HEX message in the middle of a block does not break the block", () => {
  const text = new TextDecoder("latin1").decode(MPPT);
  const cut = text.indexOf("\r\nI\t");
  const hex = encodeHex(0x1, new Uint8Array());
  const bytes = concat(MPPT.subarray(0, cut), hex, MPPT.subarray(cut));
  const { blocks, hex: msgs } = parse(bytes);
  assert.equal(blocks.length, 1);
  assert.deepEqual(msgs, ["154"]);
});

Deno.test("the first block after opening a port is discarded (it may be partial)", () => {
  const { blocks, counters } = parse(concat(MPPT, MPPT), { synced: false });
  assert.equal(blocks.length, 1);
  assert.equal(counters.resyncs, 1);
});

Deno.test("starting mid-block resynchronises on the next block", () => {
  const { blocks, counters } = parse(concat(MPPT.subarray(9), MPPT, MPPT), { synced: false });
  assert.equal(blocks.length, 2);
  assert.ok(counters.resyncs >= 1);
});

Deno.test("garbage without a checksum label is dropped and the parser recovers", () => {
  const garbage = "\r\nXX\tyy".repeat(100);
  // Garbage bytes taint the sum of the block they run into; the one after is clean.
  const { blocks, counters } = parse(concat(garbage, MPPT, MPPT));
  assert.equal(blocks.length, 1);
  assert.deepEqual(blocks[0][0], ["PID", "0xA053"]);
  assert.ok(counters.resyncs >= 2);
});

Deno.test("silence resets a partial block so the next complete block is accepted", () => {
  const blocks: TextBlock[] = [];
  const p = new FrameParser({ onBlock: (b) => blocks.push(blockPairs(b)), gapMs: 300 });
  p.silence();
  p.push(MPPT.subarray(0, 20), 1000); // cable pulled mid-block
  p.push(MPPT, 2000); // after a gap: a fresh block
  assert.equal(blocks.length, 1);
  assert.equal(p.counters.resyncs, 1);
});

Deno.test("byte-by-byte feeding gives the same blocks as one chunk", () => {
  const hex = encodeHex(0xa, new Uint8Array([0xd5, 0xed, 0x00, 0x10, 0x05]));
  const bytes = concat(MPPT, hex, blockWithChecksum(0x0a), MPPT, blockWithChecksum(0x3a));
  const whole = parse(bytes);
  const bytewise = parse(bytes, { chunk: 1 });
  assert.deepEqual(bytewise.blocks, whole.blocks);
  assert.equal(whole.blocks.length, 4);
});

Deno.test("a read buffer the port reuses after each push gives the same blocks", () => {
  // Fields are read in place in the chunk; what is left of one when the chunk ends is copied.
  const hex = encodeHex(0xa, new Uint8Array([0xd5, 0xed, 0x00, 0x10, 0x05]));
  const bytes = concat(MPPT, hex, blockWithChecksum(0x0a), MPPT, MPPT);
  const whole = parse(bytes);
  for (const size of [3, 7, 64]) {
    const blocks: TextBlock[] = [];
    const p = new FrameParser({ onBlock: (b) => blocks.push(blockPairs(b)) });
    p.silence();
    const buffer = new Uint8Array(size);
    for (let i = 0; i < bytes.length; i += size) {
      const part = bytes.subarray(i, i + size);
      buffer.set(part);
      p.push(buffer.subarray(0, part.length), 0);
      buffer.fill(0x58); // the next read overwrites it
    }
    assert.deepEqual(blocks, whole.blocks, `reads of ${size} bytes`);
  }
  assert.equal(whole.blocks.length, 4);
});

Deno.test("checksum validation can be turned off for chargers with bad checksums", () => {
  const bad = MPPT.slice();
  bad[bad.length - 1] ^= 0x55;
  assert.equal(parse(bad).blocks.length, 0);
  assert.equal(parse(bad, { validate: false }).blocks.length, 1);
});

Deno.test("over-long labels or values invalidate the block", () => {
  const long = encodeBlock([["PID", "0xA053"], ["V", "1".repeat(100)]]);
  const { blocks, counters } = parse(concat(long, MPPT));
  assert.equal(blocks.length, 1);
  assert.ok(counters.resyncs >= 1);
});

Deno.test("a HEX message ending in CR LF is accepted without the CR", () => {
  const { hex } = parse(concat(":154\r\n", MPPT));
  assert.deepEqual(hex, ["154"]);
});

Deno.test("a HEX message with a stray 0xFE before LF is counted as bad; text blocks are unaffected", () => {
  const blocks: TextBlock[] = [];
  let hexErrors = 0;
  const stream = new VeDirectStream({ onRecord: () => {}, gapMs: 1e9 });
  const p = new FrameParser({ onBlock: (b) => blocks.push(blockPairs(b)) });
  p.silence();
  stream.idle();
  const bytes = concat(MPPT, ":A0102000543", new Uint8Array([0xfe]), "\n", MPPT);
  p.push(bytes, 0);
  stream.push(bytes, 0);
  hexErrors = stream.counters.hex_errors;
  assert.equal(blocks.length, 2);
  assert.equal(hexErrors, 1);
  assert.equal(p.counters.checksum_errors, 0);
});
