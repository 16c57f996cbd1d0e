/**
 * Keeping a sink's upstream busy: while one batch is in the air, the next one is read
 * and prepared (encoded, compressed) and, for a sink that takes two in flight, sent.
 * Batches are still acknowledged in order by the delivery; a batch read ahead is used
 * only if the cursor is where it was read from, else dropped (and read again later).
 */
import type { Envelope } from "../model.ts";
import type { DeliveryConfig, Sink } from "../plugin.ts";
import type { ComponentStatus } from "../status.ts";
import { deadline } from "../util/timing.ts";
import type { Outbox, OutboxRow } from "./outbox.ts";

/** A batch read (and prepared, maybe sent) while the one before it was in the air. */
export interface Ahead {
  /** The id it was read after: the cursor must be there when it is taken. */
  after: number;
  rows: OutboxRow[];
  prepared: Promise<unknown>;
  /** The send, when the sink takes two batches in flight. */
  sent?: Promise<void>;
}

/** Options of {@link ReadAhead}. */
export interface ReadAheadOptions {
  name: string;
  outbox: Outbox;
  sink: Sink;
  config: DeliveryConfig;
  filter: (e: Envelope) => Envelope;
  /** The batch size in force (halved after a 413). */
  limit: () => number;
  /** Counts `sent_ahead` (batches sent while the one before was in the air). */
  status: ComponentStatus;
}

/** One sink's batch in waiting: see the module comment. */
export class ReadAhead {
  #ahead: Ahead | null = null;

  constructor(readonly options: ReadAheadOptions) {}

  /** The batch read ahead, if it follows the cursor now; it is taken (and forgotten here). */
  take(): Ahead | null {
    const ahead = this.#ahead;
    this.#ahead = null;
    const { outbox, name } = this.options;
    return ahead && ahead.after === outbox.place(name).after ? ahead : null;
  }

  /**
   * Sends `rows` (what was read ahead for them if given), reading and preparing the batch
   * after them meanwhile (`next`). Throws what the send threw, once nothing is in the air.
   */
  async send(rows: OutboxRow[], ahead: Ahead | undefined, next: boolean): Promise<void> {
    const { sink, filter } = this.options;
    let sent = ahead?.sent;
    if (!sent) {
      const prepare = () => sink.prepare!(rows.map((r) => filter(r.envelope)));
      sent = this.#send(await (ahead ? ahead.prepared.catch(prepare) : prepare()));
      sent.catch(() => {});
    }
    if (next) this.#read(rows);
    try {
      await sent;
    } catch (e) {
      // A batch sent ahead is waited for (its answer no longer counts): never more in the air.
      const orphan = this.#ahead;
      this.#ahead = null;
      await orphan?.sent?.catch(() => {});
      throw e;
    }
  }

  /** Reads the full batch after `rows`, has the sink prepare it and maybe sends it already. */
  #read(rows: OutboxRow[]): void {
    const { outbox, config, sink, name, filter } = this.options;
    const limit = this.options.limit();
    const after = rows[rows.length - 1].id;
    const next = outbox.read(name, limit, { maxBytes: config.batch_bytes, after });
    // A partial batch waits for more (max_wait) and is read again: not worth preparing.
    if (next.length < limit) return;
    const prepared = sink.prepare!(next.map((r) => filter(r.envelope)));
    prepared.catch(() => {}); // a failure shows when the batch is sent (prepared again then)
    const ahead: Ahead = { after, rows: next, prepared };
    if ((sink.inFlight ?? 1) > 1) {
      ahead.sent = prepared.then((p) => this.#send(p));
      ahead.sent.catch(() => {});
      this.options.status.count("sent_ahead");
    }
    this.#ahead = ahead;
  }

  #send(prepared: unknown): Promise<void> {
    const { sink, config, name } = this.options;
    return deadline(sink.send!(prepared), config.timeout, `write to sink ${name}`);
  }
}
