/** The bytes of a VE.Direct label or value, read in place, and the strings made of them. */

const char = String.fromCharCode;

/**
 * The bytes `b[o..o+len)` as a string. Most labels and values are short: one fromCharCode call
 * with all their bytes makes a flat string at once, twice as fast as adding characters one by one.
 */
export function latin1(b: Uint8Array, o: number, len: number): string {
  switch (len) {
    case 0:
      return "";
    case 1:
      return char(b[o]);
    case 2:
      return char(b[o], b[o + 1]);
    case 3:
      return char(b[o], b[o + 1], b[o + 2]);
    case 4:
      return char(b[o], b[o + 1], b[o + 2], b[o + 3]);
    case 5:
      return char(b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4]);
    case 6:
      return char(b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5]);
    case 7:
      return char(b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5], b[o + 6]);
    case 8:
      return char(b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5], b[o + 6], b[o + 7]);
  }
  let s = "";
  for (let i = 0; i < len; i++) s += char(b[o + i]);
  return s;
}

/**
 * Labels repeat every block and values mostly repeat too ("ON", "0", a slowly moving
 * voltage): a direct-mapped cache per kind, keyed by a hash of the bytes, returns the
 * string made last time instead of allocating a new one. Bounded: a slot is replaced on a miss.
 */
export class StringCache {
  // Filled with "" so the array holds only strings (V8 keeps it packed and the loads cheap).
  readonly #slots: string[];
  /** Each slot's hash: a miss is told without comparing characters. */
  readonly #hashes: Int32Array;
  readonly #shift: number;

  constructor(bits: number) {
    this.#slots = new Array<string>(1 << bits).fill("");
    this.#hashes = new Int32Array(1 << bits);
    this.#shift = 32 - bits;
  }

  /** The string of `buf[off..off+len)`, whose hash (`h = h * 31 + byte`, from 0) is `h`. */
  get(buf: Uint8Array, off: number, len: number, h: number): string {
    const slot = Math.imul(h ^ len, 0x9e3779b1) >>> this.#shift;
    const hit = this.#slots[slot];
    if (this.#hashes[slot] === h && hit.length === len) {
      let i = 0;
      while (i < len && hit.charCodeAt(i) === buf[off + i]) i++;
      if (i === len) return hit;
    }
    this.#hashes[slot] = h;
    return this.#slots[slot] = latin1(buf, off, len);
  }
}

/**
 * A label or value being read byte by byte (the parser's slow path: a line cut by the chunk's
 * end or by a HEX message). While it lies whole in the chunk being parsed it is read in
 * place (no copy); what is left when the chunk ends is copied into a buffer of `max` bytes.
 */
export class FieldBytes {
  src: Uint8Array;
  off = 0;
  len = 0;
  /** `h = h * 31 + byte` over the bytes so far, from 0. */
  hash = 0;
  over = false;
  readonly #own: Uint8Array;

  constructor(max: number) {
    this.src = this.#own = new Uint8Array(max);
  }

  reset(): void {
    this.src = this.#own;
    this.off = this.len = this.hash = 0;
    this.over = false;
  }

  /** Adds `chunk[i..j)`; `h` is the hash with those bytes included. */
  run(chunk: Uint8Array, i: number, j: number, h: number): void {
    if (this.len === 0) {
      this.src = chunk;
      this.off = i;
      this.len = j - i;
      if (this.len > this.#own.length) this.over = true;
    } else this.#copy(chunk, i, j);
    this.hash = h;
  }

  /** Adds one byte that is not part of a run (a stray LF in a name). */
  add(chunk: Uint8Array, i: number): void {
    this.#copy(chunk, i, i + 1);
    this.hash = (this.hash * 31 + chunk[i]) | 0;
  }

  /** Copies the bytes out of `chunk` if they are still in it: it is the caller's after `push`. */
  keep(chunk: Uint8Array): void {
    if (this.src === chunk) this.#copy(chunk, 0, 0);
  }

  string(cache: StringCache): string {
    return this.over ? "" : cache.get(this.src, this.off, this.len, this.hash);
  }

  #copy(from: Uint8Array, i: number, j: number): void {
    const own = this.#own;
    if (this.src !== own) {
      const src = this.src, off = this.off, len = Math.min(this.len, own.length);
      for (let k = 0; k < len; k++) own[k] = src[off + k];
      this.src = own;
      this.off = 0;
      this.len = len;
    }
    for (let k = i; k < j; k++) {
      if (this.len < own.length) own[this.len++] = from[k];
      else this.over = true;
    }
  }
}
