/** A record read from the outbox's log, decoded only when someone needs its envelope. */
import type { Envelope } from "../model.ts";
import type { RawRecord } from "../plugin.ts";

/** A row of the log whose JSON is decoded only when its envelope is asked for. */
export class LogRecord {
  #envelope: Envelope | undefined;

  constructor(readonly id: number, readonly raw: RawRecord) {}

  get envelope(): Envelope {
    return this.#envelope ??= {
      kind: this.raw.kind,
      data: JSON.parse(this.raw.payload),
    } as Envelope;
  }
}
