/**
 * One batch of one sink, read to acknowledged: read the records after a place in the log,
 * decode them with the sink's `fields` applied, write them (or prepare and send them, reading and
 * preparing the next batch while one is in the air), split a refused batch until the refused
 * records are found, and report `{count, lastId, refused}`. It runs unchanged on the main thread
 * (on the outbox's connection) and in a Worker (on its own); it decides nothing and writes
 * nothing to the outbox: the {@link Delivery} on the main thread moves the cursor and keeps the
 * dead letters.
 */
import { fieldFilter } from "../envelope_fields.ts";
import { RejectedError, TooLargeError } from "../errors.ts";
import type { Envelope } from "../model.ts";
import type { Sink } from "../plugin.ts";
import { type ComponentStatus, errorMessage } from "../status.ts";
import { deadline } from "../util/timing.ts";
import type { LogRow } from "../outbox/cursors.ts";

/** Where the next batch starts and how much it may take. */
export interface BatchPlace {
  /** The id of the last record the sink is done with (its cursor). */
  after: number;
  limit: number;
  maxBytes: number;
  /** The largest record the outbox holds (whether sizes are read before payloads). */
  largest: number;
  /** Read and prepare the batch after this one while this one is in the air. */
  ahead: boolean;
}

/** A record the upstream refused, as stored, with the upstream's message. */
export interface Refused extends LogRow {
  error: string;
}

/** What a batch came to: records read, the last one's id, and those refused among them. */
export interface BatchReport {
  count: number;
  lastId: number;
  refused: Refused[];
}

/** Reads a sink's records after a place (the outbox's reader, or a Worker's own). */
export type ReadLog = (
  after: number,
  limit: number,
  options: { maxBytes: number; largest: number },
) => LogRow[];

/** What the batches of one sink go through, on whichever thread runs them. */
export interface Batches {
  /** Reads the records of the open commit too (the outbox's own connection, this thread). */
  readonly readsUncommitted: boolean;
  connect(): Promise<void>;
  /** Reads and writes the batch after `place`; throws retryable and too-large failures. */
  write(place: BatchPlace): Promise<BatchReport>;
  /** Writes these records (dead letters, again); returns those refused. */
  writeRecords(records: LogRow[]): Promise<Refused[]>;
  close(): Promise<void>;
}

/** A sink that cannot be made from its config (its plugin's `create` threw): no retry helps. */
export class SinkSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SinkSetupError";
  }
}

/** Options of {@link BatchWriter}. */
export interface BatchWriterOptions {
  name: string;
  sink: Sink;
  read: ReadLog;
  /** The sink's `fields` globs (all fields when empty). */
  fields: string[];
  /** Per-attempt timeout of one write, ms. */
  timeout: number;
  /** Counts `sent_ahead` and `rejected_batches_split`. */
  status: ComponentStatus;
  /** Told before each call to the sink (a Worker's sign of life: its deadline starts again). */
  step?(): void;
  /** `read` is the outbox's own (see {@link Batches.readsUncommitted}). */
  readsUncommitted?: boolean;
}

/** A batch read (prepared, maybe sent) while the one before it was in the air. */
interface Ahead {
  after: number;
  rows: LogRow[];
  prepared: Promise<unknown>;
  /** Its send, when the sink takes two batches in flight. */
  sent?: Promise<void>;
}

/** See the module comment. */
export class BatchWriter implements Batches {
  readonly #filter: (e: Envelope) => Envelope;
  #ahead: Ahead | null = null;
  #opened = false;

  readonly readsUncommitted: boolean;

  constructor(readonly options: BatchWriterOptions) {
    this.readsUncommitted = options.readsUncommitted ?? false;
    this.#filter = fieldFilter(options.fields);
  }

  async connect(): Promise<void> {
    const { sink, timeout, name } = this.options;
    this.#opened = true;
    this.options.step?.();
    if (sink.connect) await deadline(sink.connect(), timeout, `connect of sink ${name}`);
  }

  /** Closes the sink if it was ever asked to connect. */
  async close(): Promise<void> {
    this.#ahead = null;
    if (this.#opened) await this.options.sink.close?.();
    this.#opened = false;
  }

  async write(place: BatchPlace): Promise<BatchReport> {
    const { sink, read } = this.options;
    // A batch read ahead is taken only if it follows the cursor and is no larger than allowed.
    let ahead: Ahead | undefined = this.#ahead ?? undefined;
    this.#ahead = null;
    if (ahead && (ahead.after !== place.after || ahead.rows.length > place.limit)) {
      await ahead.sent?.catch(() => {}); // never more in the air than the sink takes
      ahead = undefined;
    }
    const rows = ahead?.rows ?? read(place.after, place.limit, place);
    if (rows.length === 0) return { count: 0, lastId: place.after, refused: [] };
    const refused = sink.prepare && sink.send
      ? await this.#sendPrepared(rows, ahead, place)
      : await this.#writeSplitting(rows);
    return { count: rows.length, lastId: rows[rows.length - 1].id, refused };
  }

  writeRecords(records: LogRow[]): Promise<Refused[]> {
    return this.#writeSplitting(records);
  }

  #envelopes(rows: LogRow[]): Envelope[] {
    return rows.map((r) => this.#filter({ kind: r.kind, data: JSON.parse(r.payload) } as Envelope));
  }

  /** Sends a prepared batch, reading and preparing the next meanwhile; a refused one is split. */
  async #sendPrepared(rows: LogRow[], ahead: Ahead | undefined, place: BatchPlace) {
    const { sink } = this.options;
    let sent = ahead?.sent;
    if (!sent) {
      const prepare = () => (this.options.step?.(), sink.prepare!(this.#envelopes(rows)));
      sent = this.#send(await (ahead ? ahead.prepared.catch(prepare) : prepare()));
      sent.catch(() => {});
    }
    if (place.ahead) this.#readAhead(rows, place);
    try {
      await sent;
      return [];
    } catch (e) {
      // A batch sent ahead is waited for (its answer no longer counts): never more in the air.
      const orphan = this.#ahead;
      this.#ahead = null;
      await orphan?.sent?.catch(() => {});
      if (!(e instanceof RejectedError) || e instanceof TooLargeError) throw e;
      return await this.#writeSplitting(rows);
    }
  }

  /** Reads the full batch after `rows`, has the sink prepare it and maybe sends it already. */
  #readAhead(rows: LogRow[], place: BatchPlace): void {
    const { sink, read } = this.options;
    const after = rows[rows.length - 1].id;
    const next = read(after, place.limit, place);
    // A partial batch waits for more (max_wait) and is read again: not worth preparing.
    if (next.length < place.limit) return;
    this.options.step?.();
    const prepared = sink.prepare!(this.#envelopes(next));
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
    const { sink, timeout, name } = this.options;
    this.options.step?.();
    return deadline(sink.send!(prepared), timeout, `write to sink ${name}`);
  }

  /**
   * Writes rows; when the upstream refuses the batch (4xx), halves it until the refused records
   * are found, so only they are set aside and the rest is delivered (a record written twice
   * overwrites itself). Throws retryable and too-large failures.
   */
  async #writeSplitting(rows: LogRow[]): Promise<Refused[]> {
    const { sink, timeout, name } = this.options;
    try {
      this.options.step?.();
      await deadline(sink.write(this.#envelopes(rows)), timeout, `write to sink ${name}`);
      return [];
    } catch (e) {
      if (!(e instanceof RejectedError) || e instanceof TooLargeError) throw e;
      if (rows.length === 1) {
        const { id, kind, payload } = rows[0];
        return [{ id, kind, payload, error: errorMessage(e) }];
      }
      this.options.status.count("rejected_batches_split");
      const mid = rows.length >> 1;
      const left = await this.#writeSplitting(rows.slice(0, mid));
      return left.concat(await this.#writeSplitting(rows.slice(mid)));
    }
  }
}
