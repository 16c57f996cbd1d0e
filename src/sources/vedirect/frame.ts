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

/** One valid text block: label/value pairs in arrival order, values undecoded. */
export type TextBlock = [label: string, value: string][];

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

// Labels repeat every block: decode each distinct byte sequence once.
const labelCache = new Map<number, string>();

function latin1(buf: Uint8Array, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(buf[i]);
  return s;
}

function label(buf: Uint8Array, len: number): string {
  let h = len;
  for (let i = 0; i < len; i++) h = (h * 31 + buf[i]) | 0;
  const hit = labelCache.get(h);
  if (hit !== undefined && hit.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (hit.charCodeAt(i) !== buf[i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  const s = latin1(buf, len);
  if (labelCache.size < 4096) labelCache.set(h, s);
  return s;
}

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
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.#state === State.Hex) {
        if (b === LF) {
          this.#endHex(at);
        } else if (b === COLON) {
          this.#hexLen = 0; // a new message starts; the unterminated one is garbage
        } else if (this.#hexLen < HEX_MAX) {
          this.#hex[this.#hexLen++] = b;
        } else {
          this.#state = this.#stored;
        }
        continue;
      }
      if (b === COLON && this.#state !== State.Checksum) {
        this.#stored = this.#state;
        this.#state = State.Hex;
        this.#hexLen = 0;
        continue;
      }
      this.#sum = (this.#sum + b) & 0xff;
      switch (this.#state) {
        case State.Idle:
          if (b === LF) this.#state = State.Begin;
          break;
        case State.Begin:
          this.#name[0] = b;
          this.#nameLen = 1;
          this.#state = State.Name;
          break;
        case State.Name:
          if (b === TAB) {
            if (this.#isChecksumLabel()) {
              this.#state = State.Checksum;
            } else {
              this.#valueLen = 0;
              this.#state = State.Value;
            }
          } else if (this.#nameLen < NAME_MAX) {
            this.#name[this.#nameLen++] = b;
          } else {
            this.#overflow = true;
          }
          break;
        case State.Value:
          if (b === LF) {
            this.#addField();
            this.#state = State.Begin;
          } else if (b !== CR) {
            if (this.#valueLen < VALUE_MAX) this.#value[this.#valueLen++] = b;
            else this.#overflow = true;
          }
          break;
        case State.Checksum:
          this.#endBlock(at);
          break;
      }
    }
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
    if (this.#fields.length >= FIELDS_MAX) {
      // No checksum in sight: this is garbage, not a block. Start over.
      this.counters.resyncs++;
      this.#reset();
      return;
    }
    this.#fields.push([label(this.#name, this.#nameLen), latin1(this.#value, this.#valueLen)]);
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
