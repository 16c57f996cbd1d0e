import type { GatewayEvent } from "../model.ts";

/** Figures a summary is made of: what the store took in so far. */
export interface SummaryFigures {
  stored: number;
  failed: number;
  /** Where the data is kept (DataLake's "location"). */
  location: string;
  outboxBytes: number;
}

/** The periodic `data_saved` event (DataLake's): what was stored since the last one. */
export class Summary {
  #from: { at: number; stored: number; failed: number };

  constructor(start: number) {
    this.#from = { at: start, stored: 0, failed: 0 };
  }

  /** The event for the period ending `now`; the next period starts there. */
  next(now: number, figures: SummaryFigures): GatewayEvent {
    const from = this.#from;
    this.#from = { at: now, stored: figures.stored, failed: figures.failed };
    const id = crypto.randomUUID();
    return {
      id,
      type: "data_saved",
      ts: now,
      data: {
        event_id: id,
        period_start: new Date(from.at).toISOString(),
        period_end: new Date(now).toISOString(),
        records: figures.stored - from.stored,
        errors: figures.failed - from.failed,
        location: figures.location,
        outbox_bytes: figures.outboxBytes,
      },
    };
  }
}
