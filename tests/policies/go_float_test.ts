import assert from "node:assert/strict";
import { parseGoFloat } from "../../src/policies/go_float.ts";

/**
 * Go's strconv.ParseFloat(s, 64) on edge cases of its grammar (checked with Go 1.19's
 * own output): null where Go returns an error.
 */
const TABLE: [string, number | null][] = [
  ["12", 12],
  [" 12", null], // no surrounding space (JavaScript's Number() trims it)
  ["12 ", null],
  ["\t12", null],
  ["", null],
  ["+1.5", 1.5],
  ["-0", -0],
  [".5", 0.5],
  ["5.", 5],
  [".", null],
  ["+-1", null],
  ["- 1", null],
  ["1,5", null],
  ["017", 17], // leading zeros are decimal, not octal
  ["00.5", 0.5],
  ["+.5e-1", 0.05],
  ["1e3", 1000],
  ["1E+3", 1000],
  ["1.e5", 100000],
  ["1e", null],
  ["1e+", null],
  ["1e0000000000000000000001", 10],
  // Inf / Infinity / NaN in any case; NaN takes no sign.
  ["inf", Infinity],
  ["+Inf", Infinity],
  ["-infinity", -Infinity],
  ["INFINITY", Infinity],
  ["iNf", Infinity],
  ["nan", NaN],
  ["NaN", NaN],
  ["-nan", null],
  ["+nan", null],
  ["infx", null],
  ["infinity ", null],
  // Underscores only between digits (or after the 0x prefix).
  ["1_000", 1000],
  ["1_000.000_1", 1000.0001],
  ["1e1_0", 1e10],
  ["1__000", null],
  ["_1", null],
  ["1_", null],
  ["1_e3", null],
  ["1e-1_", null],
  // Hexadecimal mantissa with a mandatory binary exponent.
  ["0x1p-2", 0.25],
  ["0X1P+2", 4],
  ["0x1.8p1", 3],
  ["0x.8p1", 1],
  ["0x1.p1", 2],
  ["+0x1p0", 1],
  ["-0x1p0", -1],
  ["0x0p0", 0],
  ["0x_1p0", 1],
  ["0X_1P0", 1],
  ["0x1_0p0", 16],
  ["0x1p1_0", 1024],
  ["0x1_p1", null],
  ["0x1p_1", null],
  ["0x1", null],
  ["0x1e", null],
  ["0x10", null],
  ["0xp1", null],
  ["0x.p1", null],
  ["0x1P", null],
  ["0x1p+", null],
  ["0x1p-1074", 5e-324],
  ["0x1p-1075", 0],
  ["0x1.8p-1075", 5e-324],
  ["0x1p-1100", 0],
  ["0x1.fffffffffffffp1023", 1.7976931348623157e308],
  ["0x1.fffffffffffff8p1023", null],
  ["0x1p1024", null],
  // No other base prefixes.
  ["0b101", null],
  ["0o7", null],
  // Out of range is an error (Number() says Infinity); underflow is 0.
  ["1e400", null],
  ["-1e400", null],
  ["1.7976931348623157e308", 1.7976931348623157e308],
  ["1.7976931348623159e308", null],
  ["1.797693134862315808e308", null],
  ["1e-400", 0],
  ["1e-99999999999999", 0],
  ["4.9e-324", 5e-324],
  ["2e-324", 0],
  ["123456789012345678901234567890", 1.2345678901234568e29],
  ["0.000000000000000000000000000000000000000001e30", 1e-12],
  ["١٢", null], // digits of other scripts are not digits to Go
];

Deno.test("parseGoFloat reads what Go's strconv.ParseFloat reads, and refuses what it refuses", () => {
  for (const [text, expected] of TABLE) {
    assert.ok(Object.is(parseGoFloat(text), expected), `${JSON.stringify(text)} -> ${expected}`);
  }
});

/** Strings over the characters of Go's float grammar, from a fixed seed. */
function grammarNoise(count: number): string[] {
  const alphabet = "0123456789abcdefABCDEFxXpPeE._+-nNiItyfa ";
  let seed = 20261204;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = next() < 0.3 ? "0x" : "";
    const length = 1 + Math.floor(next() * 8);
    for (let j = 0; j < length; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    out.push(s);
  }
  return out;
}

Deno.test("parseGoFloat agrees with Go itself on the table and on 20,000 strings of its grammar's characters", async () => {
  const inputs = [...TABLE.map(([t]) => t), ...grammarNoise(20_000)]
    .filter((t) => !t.includes("\n"));
  const child = new Deno.Command("go", {
    args: ["run", new URL("testdata/parse_float.go", import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(inputs.join("\n") + "\n"));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  assert.equal(lines.length, inputs.length);
  const differ: string[] = [];
  let numbers = 0;
  inputs.forEach((text, i) => {
    const go = lines[i] === "error" ? null : Number(lines[i].replace("Inf", "Infinity"));
    if (go !== null) numbers++;
    if (!Object.is(parseGoFloat(text), go)) differ.push(`${JSON.stringify(text)}: Go ${lines[i]}`);
  });
  assert.deepEqual(differ, []);
  assert.ok(numbers > 500, `the noise holds numbers too (${numbers})`);
});
