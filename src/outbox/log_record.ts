/** A record read from the outbox's log, decoded only when someone needs its envelope. */
import type { Envelope } from "../model.ts";
import type { LogRow } from "./cursors.ts";

/** A row of the log whose JSON is decoded only when its envelope is asked for. */
export class LogRecord {
  #envelope: Envelope | undefined;

  constructor(readonly row: LogRow) {}

  get id(): number {
    return this.row.id;
  }

  get envelope(): Envelope {
    return this.#envelope ??= {
      kind: this.row.kind,
      data: JSON.parse(this.row.payload),
    } as Envelope;
  }
}
