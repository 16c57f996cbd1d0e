/** A record read from the outbox's log, decoded only when someone needs its envelope. */
import type { Envelope, EnvelopeKind } from "../model.ts";

/** A record as stored: its kind and its data as JSON text (decoded by whoever needs it). */
export interface RawRecord {
  kind: EnvelopeKind;
  payload: string;
}

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
