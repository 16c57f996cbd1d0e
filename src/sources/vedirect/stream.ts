import { type DeviceRecord, RecordAssembler } from "./decode.ts";
import { FrameParser } from "./frame.ts";
import { decodeHex, type HexMessage } from "./hex.ts";

/** Counters of one VE.Direct byte stream (one port or one simulated device). */
export interface StreamCounters {
  bytes: number;
  blocks_ok: number;
  checksum_errors: number;
  resyncs: number;
  hex_messages: number;
  hex_errors: number;
  /** Records dropped because the block naming the device was refused. */
  orphan_records: number;
  records: number;
}

/** Options of {@link VeDirectStream}. */
export interface VeDirectStreamOptions {
  onRecord(record: DeviceRecord): void;
  onHex?(message: HexMessage, at: number): void;
  validateChecksum?: boolean;
  gapMs?: number;
}

/** Bytes in, device records and HEX messages out: parser + block merging + HEX decoding. */
export class VeDirectStream {
  readonly #parser: FrameParser;
  readonly #assembler: RecordAssembler;
  #hexErrors = 0;
  #records = 0;
  #orphans = 0;
  #lastHexError = "";

  constructor(options: VeDirectStreamOptions) {
    this.#assembler = new RecordAssembler((record) => {
      this.#records++;
      options.onRecord(record);
    }, () => this.#orphans++);
    this.#parser = new FrameParser({
      validateChecksum: options.validateChecksum,
      gapMs: options.gapMs,
      onBlock: (block, at) => this.#assembler.add(block, at),
      onHex: (text, at) => {
        const msg = decodeHex(text);
        if ("error" in msg) {
          this.#hexErrors++;
          this.#lastHexError = msg.error;
        } else {
          options.onHex?.(msg, at);
        }
      },
    });
  }

  /** Feeds bytes received at `at` (ms). */
  push(bytes: Uint8Array, at: number = Date.now()): void {
    this.#parser.push(bytes, at);
  }

  /** The line went quiet: emit the pending record and trust the next block. */
  idle(): void {
    this.#assembler.flush();
    this.#parser.silence();
  }

  /** The port was lost: drop partial state without emitting it. */
  lost(): void {
    this.#assembler.clear();
    this.#parser.restart();
  }

  /** The last HEX decoding error, for diagnostics. */
  get lastHexError(): string {
    return this.#lastHexError;
  }

  /** A snapshot of the counters. */
  get counters(): StreamCounters {
    return {
      ...this.#parser.counters,
      hex_errors: this.#hexErrors,
      records: this.#records,
      orphan_records: this.#orphans,
    };
  }
}
