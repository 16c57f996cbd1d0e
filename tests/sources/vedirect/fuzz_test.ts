import assert from "node:assert/strict";
import { blockPairs, FrameParser } from "../../../src/sources/vedirect/frame.ts";

type TextBlock = [string, string][];
import { VeDirectStream } from "../../../src/sources/vedirect/stream.ts";
import { DeviceSimulator } from "../../../src/sources/vedirect/simulator.ts";
// Deterministic PRNG so a failure can be replayed from its case number.
import { concatBytes, seededRandom } from "../../../src/util/bytes.ts";

function capture(seed: number, frames: number): Uint8Array {
  const sim = new DeviceSimulator(seed % 2 ? "mppt" : "bmv", { seed, hexEvery: 3 });
  const parts: Uint8Array[] = [];
  for (let i = 0; i < frames; i++) parts.push(sim.frame(Date.UTC(2026, 5, 1, 12) + i * 1000));
  return concatBytes(parts);
}

function blocksOf(bytes: Uint8Array, chunk: number): TextBlock[] {
  const blocks: TextBlock[] = [];
  const p = new FrameParser({ onBlock: (b) => blocks.push(blockPairs(b)), onHex: () => {} });
  p.silence();
  for (let i = 0; i < bytes.length; i += chunk) p.push(bytes.subarray(i, i + chunk), 0);
  return blocks;
}

const COLON = 0x3a;

Deno.test("fuzz: 60k single-byte corruptions never yield a block that was not sent", () => {
  const random = seededRandom(42);
  const captures = Array.from({ length: 20 }, (_, i) => capture(i + 1, 4));
  const sent = captures.map((c) => blocksOf(c, c.length));
  const originals = sent.map((blocks) => new Set(blocks.map((b) => JSON.stringify(b))));
  let corrupted = 0;
  let cases = 0;
  for (let n = 0; n < 60_000; n++) {
    const k = n % captures.length;
    const bytes = captures[k].slice();
    const at = Math.floor(random() * bytes.length);
    const old = bytes[at];
    let value = Math.floor(random() * 256);
    if (value === old) value = (value + 1) & 0xff;
    // A new ':' can hide bytes from the sum (HEX mode): protocol-inherent, tested apart.
    if (old === COLON || value === COLON) continue;
    bytes[at] = value;
    cases++;
    const got = blocksOf(bytes, 1 + Math.floor(random() * 64));
    for (const b of got) {
      const key = JSON.stringify(b);
      if (!originals[k].has(key)) {
        throw new Error(
          `case ${n}: byte ${at} ${old}->${value} emitted a block never sent: ${key}`,
        );
      }
    }
    if (got.length < sent[k].length) corrupted++;
  }
  assert.ok(cases > 55_000, `cases run: ${cases}`);
  // Most corruptions hit a text block (the rest hit HEX messages, which blocks do not include).
  assert.ok(corrupted > cases * 0.6, `corruptions detected: ${corrupted} of ${cases}`);
});

Deno.test("fuzz: 40k random and spliced streams never throw", () => {
  const random = seededRandom(7);
  const base = capture(3, 6);
  let records = 0;
  for (let n = 0; n < 40_000; n++) {
    let bytes: Uint8Array;
    if (n % 2 === 0) {
      bytes = new Uint8Array(16 + Math.floor(random() * 400));
      for (let i = 0; i < bytes.length; i++) {
        // Bias towards protocol bytes so the state machine visits every state.
        const r = random();
        bytes[i] = r < 0.1
          ? 0x0a
          : r < 0.2
          ? 0x09
          : r < 0.25
          ? 0x3a
          : r < 0.3
          ? 0x0d
          : Math.floor(random() * 256);
      }
    } else {
      // Splice random slices of a valid capture together, with random bytes between.
      const parts: number[] = [];
      for (let s = 0; s < 4; s++) {
        const from = Math.floor(random() * base.length);
        const len = Math.floor(random() * 200);
        parts.push(...base.subarray(from, from + len));
        if (random() < 0.5) parts.push(Math.floor(random() * 256));
      }
      bytes = Uint8Array.from(parts);
    }
    const stream = new VeDirectStream({ onRecord: () => records++, gapMs: 300 });
    stream.push(bytes, n);
    stream.idle();
  }
  assert.ok(records >= 0);
});
