/**
 * Byte-level VE.Direct frame parser, modelled on Victron's reference frame
 * handler: the stream is bytes, never text, because the checksum byte can take
 * any value (including CR, LF, TAB and `:`).
 */

const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;
const COLON = 0x3a;
const CHECKSUM_LABEL = [0x43, 0x68, 0x65, 0x63, 0x6b, 0x73, 0x75, 0x6d]; // "Checksum"

// Protocol limits are 9 / 33 / 22; a little slack tolerates odd firmware, more is garbage.
const NAME_MAX = 16;
const VALUE_MAX = 64;
const FIELDS_MAX = 40;
const HEX_MAX = 512;

const enum State {
  Idle,
  Begin,
  Name,
  Value,
  Checksum,
  Hex,
}

/** Per-port counters, as shown on /status and printed by `decode`. */
export interface FrameCounters {
  bytes: number;
  blocks_ok: number;
  checksum_errors: number;
  resyncs: number;
  hex_messages: number;
}

/**
 * One valid text block: labels and values alternating (`[label0, value0, label1, ...]`) in
 * arrival order, values undecoded. Flat, so a field costs no array of its own.
 */
export type TextBlock = string[];

/** A block's fields as [label, value] pairs. */
export function blockPairs(block: TextBlock): [label: string, value: string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < block.length; i += 2) out.push([block[i], block[i + 1]]);
  return out;
}

/** Options of {@link FrameParser}. */
export interface FrameParserOptions {
  /** Called with every block whose checksum is valid (or every block when not validating). */
  onBlock(block: TextBlock, at: number): void;
  /** Called with the text of every HEX message, without `:` and the final LF. */
  onHex?(text: string, at: number): void;
  /** Validate the text checksum (default true); some chargers need an opt-out. */
  validateChecksum?: boolean;
  /** Silence that marks a block boundary and resets the parser (default 300 ms). */
  gapMs?: number;
}

const char = String.fromCharCode;

/**
 * The bytes as a string. Most labels and values are short: one fromCharCode call with all
 * their bytes makes a flat string at once, twice as fast as adding characters one by one.
 */
function latin1(b: Uint8Array, len: number): string {
  switch (len) {
    case 0:
      return "";
    case 1:
      return char(b[0]);
    case 2:
      return char(b[0], b[1]);
    case 3:
      return char(b[0], b[1], b[2]);
    case 4:
      return char(b[0], b[1], b[2], b[3]);
    case 5:
      return char(b[0], b[1], b[2], b[3], b[4]);
    case 6:
      return char(b[0], b[1], b[2], b[3], b[4], b[5]);
    case 7:
      return char(b[0], b[1], b[2], b[3], b[4], b[5], b[6]);
    case 8:
      return char(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    case 10: // 0x00000000 (OR, AR)
      return char(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]);
  }
  let s = "";
  for (let i = 0; i < len; i++) s += char(b[i]);
  return s;
}

/**
 * Labels repeat every block and values mostly repeat too ("ON", "0", a slowly moving
 * voltage): a direct-mapped cache per kind, keyed by a hash of the bytes, returns the
 * string made last time instead of allocating a new one. Bounded: a slot is replaced on a miss.
 */
class StringCache {
  readonly #slots: (string | undefined)[];

  constructor(readonly size: number) {
    this.#slots = new Array(size);
  }

  /** The string of `buf[0..len)`, whose hash (`h = h * 31 + byte`, from 0) is `h`. */
  get(buf: Uint8Array, len: number, h: number): string {
    h = (h + len * 0x9e3779b1) | 0;
    const slot = (h ^ (h >>> 10)) & (this.size - 1);
    const hit = this.#slots[slot];
    if (hit !== undefined && hit.length === len) {
      let i = 0;
      while (i < len && hit.charCodeAt(i) === buf[i]) i++;
      if (i === len) return hit;
    }
    return this.#slots[slot] = latin1(buf, len);
  }
}

const labels = new StringCache(256);
const values = new StringCache(1024);

/** Incremental VE.Direct text + HEX frame parser; feed it bytes as they arrive. */
export class FrameParser {
  readonly counters: FrameCounters = {
    bytes: 0,
    blocks_ok: 0,
    checksum_errors: 0,
    resyncs: 0,
    hex_messages: 0,
  };
  #state = State.Idle;
  #stored = State.Idle;
  #sum = 0;
  #name = new Uint8Array(NAME_MAX);
  #nameLen = 0;
  /** Hashes of the stored name and value bytes, made while copying them. */
  #nameHash = 0;
  #valueHash = 0;
  #value = new Uint8Array(VALUE_MAX);
  #valueLen = 0;
  #hex = new Uint8Array(HEX_MAX);
  #hexLen = 0;
  #fields: TextBlock = [];
  #overflow = false;
  // Until a block boundary is known (silence or a finished block), the first block is partial.
  #synced = false;
  #lastByteAt: number | null = null;
  readonly #validate: boolean;
  readonly #gapMs: number;
  readonly #onBlock: FrameParserOptions["onBlock"];
  readonly #onHex?: FrameParserOptions["onHex"];

  constructor(options: FrameParserOptions) {
    this.#onBlock = options.onBlock;
    this.#onHex = options.onHex;
    this.#validate = options.validateChecksum ?? true;
    this.#gapMs = options.gapMs ?? 300;
  }

  /** Feeds received bytes; `at` is the arrival time in ms (used for silence detection). */
  push(chunk: Uint8Array, at: number = Date.now()): void {
    if (this.#lastByteAt !== null && at - this.#lastByteAt > this.#gapMs) this.silence();
    this.#lastByteAt = at;
    this.counters.bytes += chunk.length;
    const n = chunk.length;
    // The state lives in locals inside the loop (fields are slower to touch per byte) and is
    // written back before any method that reads or resets it.
    let state = this.#state;
    let sum = this.#sum;
    let i = 0;
    while (i < n) {
      const b = chunk[i];
      if (state === State.Hex) {
        i++;
        if (b === LF) {
          this.#state = state;
          this.#sum = sum;
          this.#endHex(at);
          state = this.#state;
        } else if (b === COLON) {
          this.#hexLen = 0; // a new message starts; the unterminated one is garbage
        } else if (this.#hexLen < HEX_MAX) {
          this.#hex[this.#hexLen++] = b;
        } else {
          state = this.#stored;
        }
        continue;
      }
      if (b === COLON && state !== State.Checksum) {
        this.#stored = state;
        state = State.Hex;
        this.#hexLen = 0;
        i++;
        continue;
      }
      if (state === State.Value || state === State.Name) {
        // A run of plain bytes up to the next delimiter, summed and copied in one tight loop.
        const value = state === State.Value;
        const stop = value ? CR : TAB;
        const buf = value ? this.#value : this.#name;
        const max = value ? VALUE_MAX : NAME_MAX;
        let len = value ? this.#valueLen : this.#nameLen;
        let h = value ? this.#valueHash : this.#nameHash;
        let j = i;
        let c = 0;
        while (j < n && (c = chunk[j]) !== stop && c !== LF && c !== COLON) {
          sum += c;
          if (len < max) {
            buf[len++] = c;
            h = (h * 31 + c) | 0;
          } else this.#overflow = true;
          j++;
        }
        if (j > i) {
          if (value) {
            this.#valueLen = len;
            this.#valueHash = h;
          } else {
            this.#nameLen = len;
            this.#nameHash = h;
          }
          sum &= 0xff;
          i = j;
          continue;
        }
      }
      i++;
      sum = (sum + b) & 0xff;
      switch (state) {
        case State.Idle:
          if (b === LF) state = State.Begin;
          break;
        case State.Begin:
          this.#name[0] = b;
          this.#nameLen = 1;
          this.#nameHash = b;
          state = State.Name;
          break;
        case State.Name:
          // The run above stops only at TAB or LF here (COLON is handled before).
          if (b === TAB) {
            if (this.#isChecksumLabel()) {
              state = State.Checksum;
            } else {
              this.#valueLen = 0;
              this.#valueHash = 0;
              state = State.Value;
            }
          } else if (this.#nameLen < NAME_MAX) {
            this.#name[this.#nameLen++] = b;
            this.#nameHash = (this.#nameHash * 31 + b) | 0;
          } else {
            this.#overflow = true;
          }
          break;
        case State.Value:
          if (b === LF) {
            this.#state = state;
            this.#sum = sum;
            this.#addField();
            state = State.Begin;
            sum = this.#sum; // zero when the field was one too many and the block was dropped
          }
          break; // CR is summed, never stored
        case State.Checksum:
          this.#state = state;
          this.#sum = sum;
          this.#endBlock(at);
          state = this.#state;
          sum = this.#sum;
          break;
      }
    }
    this.#state = state;
    this.#sum = sum;
  }

  /** Declares a silence: a partial block is dropped and the next block is trusted. */
  silence(): void {
    if (this.#state !== State.Idle || this.#fields.length > 0) this.counters.resyncs++;
    this.#reset();
    this.#synced = true;
  }

  /** Starts over as after opening a port: the next block may be partial and is dropped. */
  restart(): void {
    this.#reset();
    this.#synced = false;
    this.#lastByteAt = null;
  }

  #reset(): void {
    this.#state = State.Idle;
    this.#sum = 0;
    this.#fields = [];
    this.#overflow = false;
  }

  #isChecksumLabel(): boolean {
    if (this.#nameLen !== 8) return false;
    for (let i = 0; i < 8; i++) if (this.#name[i] !== CHECKSUM_LABEL[i]) return false;
    return true;
  }

  #addField(): void {
    if (this.#fields.length >= FIELDS_MAX * 2) {
      // No checksum in sight: this is garbage, not a block. Start over.
      this.counters.resyncs++;
      this.#reset();
      return;
    }
    this.#fields.push(
      labels.get(this.#name, this.#nameLen, this.#nameHash),
      values.get(this.#value, this.#valueLen, this.#valueHash),
    );
  }

  #endBlock(at: number): void {
    const valid = this.#sum === 0 || !this.#validate;
    const fields = this.#fields;
    const overflow = this.#overflow;
    const synced = this.#synced;
    this.#reset();
    this.#synced = true;
    if (!synced || overflow || fields.length === 0) {
      this.counters.resyncs++;
    } else if (!valid) {
      this.counters.checksum_errors++;
    } else {
      this.counters.blocks_ok++;
      this.#onBlock(fields, at);
    }
  }

  #endHex(at: number): void {
    let len = this.#hexLen;
    if (len > 0 && this.#hex[len - 1] === CR) len--;
    this.#state = this.#stored;
    this.counters.hex_messages++;
    this.#onHex?.(latin1(this.#hex, len), at);
  }
}
