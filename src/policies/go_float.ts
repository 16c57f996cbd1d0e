/**
 * Numbers as pepeunit's Go data pipe reads and prints them: strconv.ParseFloat's
 * grammar (no surrounding space; Go's underscores, hex floats with a p exponent,
 * Inf/Infinity/NaN in any case; out of range is an error, not Infinity) and
 * fmt's `%.Nf`. Where we stand in for Go, JavaScript's Number() would accept
 * other text (" 12", "0b101", "1e400") and refuse some Go takes ("1_000", "0x1p-2").
 */

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const HEX = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/;
const INFINITY = /^([+-]?)(inf|infinity)$/i;

/**
 * Go's underscoreOK: an underscore only between two digits (hex digits after 0x), or
 * between the 0x prefix and a digit.
 */
function underscoresOk(text: string): boolean {
  let s = text.replace(/^[+-]/, "");
  let saw = "^"; // ^ start, 0 digit or prefix, _ underscore, ! anything else
  let hex = false;
  if (/^0[xXbBoO]/.test(s)) {
    hex = /^0[xX]/.test(s);
    s = s.slice(2);
    saw = "0";
  }
  for (const c of s) {
    if (/[0-9]/.test(c) || (hex && /[a-fA-F]/.test(c))) saw = "0";
    else if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
    } else {
      if (saw === "_") return false;
      saw = "!";
    }
  }
  return saw !== "_";
}

/** `x * 2^e` with one rounding at the end (the scaling steps stay in the normal range). */
function scaleByPowerOfTwo(x: number, e: number): number {
  for (; e > 1000 && Number.isFinite(x); e -= 1000) x *= 2 ** 1000;
  for (; e < -1000 && x !== 0; e += 1000) x *= 2 ** -1000;
  return x * 2 ** e;
}

/** The number a text is as Go's strconv.ParseFloat(text, 64) reads it, or null where Go errs. */
export function parseGoFloat(text: string): number | null {
  const inf = INFINITY.exec(text);
  if (inf) return inf[1] === "-" ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (text.includes("_")) {
    if (!underscoresOk(text)) return null;
    text = text.replaceAll("_", "");
  }
  let n: number;
  if (DECIMAL.test(text)) n = Number(text);
  else {
    const hex = HEX.exec(text);
    if (!hex || hex[2] + (hex[3] ?? "") === "") return null;
    const [, sign, whole, fraction = "", exp] = hex;
    const mantissa = Number(BigInt(`0x${whole}${fraction}`));
    n = scaleByPowerOfTwo(mantissa, Number(exp) - 4 * fraction.length);
    if (sign === "-") n = -n;
  }
  // Beyond the largest float64 Go returns ErrRange: pepeunit treats it as not a number.
  return Number.isFinite(n) ? n : null;
}

const F64 = new DataView(new ArrayBuffer(8));

/**
 * `x` with `digits` decimals exactly as Go's fmt `%.Nf` prints it: the exact binary
 * value rounded half to even (JavaScript's toFixed rounds exact halves away from zero).
 */
export function goFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : "-Inf";
  F64.setFloat64(0, x);
  const hi = F64.getUint32(0);
  const lo = F64.getUint32(4);
  const exp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e = exp - 1075;
  if (exp === 0) e = -1074;
  else mant |= 1n << 52n;
  // |x| = mant * 2^e; scaled = |x| * 10^digits = num / den, rounded half to even.
  let num = mant * 10n ** BigInt(digits);
  let den = 1n;
  if (e >= 0) num <<= BigInt(e);
  else den <<= BigInt(-e);
  let q = num / den;
  const twice = (num % den) * 2n;
  if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  const s = q.toString().padStart(digits + 1, "0");
  const body = digits === 0 ? s : `${s.slice(0, -digits)}.${s.slice(-digits)}`;
  return (x < 0 || Object.is(x, -0) ? "-" : "") + body;
}
