/**
 * Byte-level VE.Direct frame parser, modelled on Victron's reference frame
 * handler: the stream is bytes, never text, because the checksum byte can take
 * any value (including CR, LF, TAB and `:`).
 */
import { FieldBytes, latin1, StringCache } from "./field_bytes.ts";

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

/** Whether the 8 bytes at `off` spell "Checksum". */
function isChecksumLabel(bytes: Uint8Array, off: number): boolean {
  for (let i = 0; i < 8; i++) if (bytes[off + i] !== CHECKSUM_LABEL[i]) return false;
  return true;
}

const labels = new StringCache(8);
const values = new StringCache(10);

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
  readonly #name = new FieldBytes(NAME_MAX);
  readonly #value = new FieldBytes(VALUE_MAX);
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
      if (state === State.Begin) {
        // Most lines lie whole in the chunk: `name TAB value CR LF` read in two tight loops.
        const next = this.#lines(chunk, i, sum);
        if (next !== i) {
          i = next;
          sum = this.#sum; // zero when the field was one too many and the block was dropped
          continue;
        }
        this.#name.reset();
        state = State.Name;
      }
      if (state === State.Value || state === State.Name) {
        // A run of plain bytes up to the next delimiter, summed and hashed in one tight loop.
        const field = state === State.Value ? this.#value : this.#name;
        const stop = state === State.Value ? CR : TAB;
        let h = field.hash;
        let j = i;
        let c = 0;
        while (j < n && (c = chunk[j]) !== stop && c !== LF && c !== COLON) {
          sum += c;
          h = ((h << 5) - h + c) | 0;
          j++;
        }
        if (j > i) {
          field.run(chunk, i, j, h);
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
        case State.Name:
          // The run above stops only at TAB or LF here (COLON is handled before).
          if (b !== TAB) {
            this.#name.add(chunk, i - 1);
          } else if (this.#name.len === 8 && isChecksumLabel(this.#name.src, this.#name.off)) {
            state = State.Checksum;
          } else {
            this.#value.reset();
            state = State.Value;
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
    this.#name.keep(chunk);
    this.#value.keep(chunk);
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

  /**
   * Reads the whole field lines from `i` on (state Begin), adds their fields and returns where
   * it stopped (`i` when no line was read): at a line not whole in the chunk, the checksum, or
   * one holding anything unusual, which the byte-by-byte path takes.
   */
  #lines(chunk: Uint8Array, i: number, sum: number): number {
    const n = chunk.length;
    const fields = this.#fields;
    while (true) {
      let j = i, c = 0, h = 0;
      while (j < n && (c = chunk[j]) !== TAB && c !== LF && c !== COLON) {
        sum += c;
        h = ((h << 5) - h + c) | 0;
        j++;
      }
      if (c !== TAB || j >= n || j === i || j - i > NAME_MAX) break;
      const nameEnd = j++;
      let v = 0;
      while (j < n && (c = chunk[j]) !== CR && c !== LF && c !== COLON) {
        sum += c;
        v = ((v << 5) - v + c) | 0;
        j++;
      }
      if (c !== CR || j + 1 >= n || chunk[j + 1] !== LF || j - nameEnd - 1 > VALUE_MAX) break;
      if (nameEnd - i === 8 && isChecksumLabel(chunk, i)) break;
      this.#sum = sum = (sum + TAB + CR + LF) & 0xff;
      if (fields.length >= FIELDS_MAX * 2) {
        this.#tooManyFields();
        return j + 2;
      }
      fields.push(
        labels.get(chunk, i, nameEnd - i, h),
        values.get(chunk, nameEnd + 1, j - nameEnd - 1, v),
      );
      i = j + 2;
    }
    return i;
  }

  /** No checksum in sight after that many fields: this is garbage, not a block. Start over. */
  #tooManyFields(): void {
    this.counters.resyncs++;
    this.#reset();
  }

  #addField(): void {
    if (this.#fields.length >= FIELDS_MAX * 2) return this.#tooManyFields();
    if (this.#name.over || this.#value.over) this.#overflow = true;
    this.#fields.push(this.#name.string(labels), this.#value.string(values));
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
    this.#onHex?.(latin1(this.#hex, 0, len), at);
  }
}
