/**
 * Messages a Worker handed over, taken into the source as fast as it has room: a batch that
 * arrives while the source is full waits here (and the Worker stops reading), never dropped.
 */
import type { WireMessage } from "./ingest_messages.ts";

/** What a backlog feeds and how it holds its Worker back. */
export interface BacklogOptions {
  take(message: WireMessage): void;
  full(): boolean;
  room(): Promise<void>;
  /** Stops (true) or lets again (false) the Worker read further packets. */
  pause(paused: boolean): void;
  /** Told each time the source's bound holds the messages back. */
  held(): void;
}

/** One Worker's batches on their way into the source, in order. */
export class Backlog {
  #batches: WireMessage[][] = [];
  /** How far into the first batch the source has taken. */
  #at = 0;
  #draining = false;

  constructor(readonly options: BacklogOptions) {}

  add(items: WireMessage[]): void {
    this.#batches.push(items);
    // A second batch waiting means the source is behind: the Worker stops reading meanwhile.
    if (this.#batches.length > 1) this.options.pause(true);
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const o = this.options;
    try {
      while (this.#batches.length > 0) {
        const items = this.#batches[0];
        while (this.#at < items.length) {
          if (o.full()) {
            o.pause(true);
            o.held();
            await o.room();
            continue;
          }
          o.take(items[this.#at++]);
        }
        this.#batches.shift();
        this.#at = 0;
      }
      o.pause(false);
    } finally {
      this.#draining = false;
    }
  }
}
