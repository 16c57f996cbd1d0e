/** The outbox's settings and the rows it reads for sinks. */
import type { Logger } from "../log.ts";
import type { Envelope } from "../model.ts";
import type { Clock } from "../util/clock.ts";

/** Outbox settings. */
export interface OutboxOptions {
  path: string;
  maxBytes: number;
  /** Records older than this are dropped (reason `expired`); 0 = keep until delivered. */
  maxAgeMs: number;
  onFull: "drop_oldest" | "reject_new";
  /** `full` survives power loss (fsync per commit); `normal` survives a process crash only. */
  sync: "full" | "normal";
  /** Bytes of dead letters kept at most (never more than a quarter of maxBytes). */
  maxDeadLetterBytes: number;
  /** Records' times and their age (default: the system clock). */
  clock?: Clock;
  /**
   * Writes wait in one open transaction for {@link Outbox.commit} (the gateway's group commit);
   * without it every append, cursor move and deletion is committed at once.
   */
  grouped?: boolean;
  /** SQLite page size of a new file (an older file keeps its own). */
  pageSize?: number;
  /** No other connection opens the file (no Worker reads it): WAL without a -shm file. */
  exclusive?: boolean;
  log: Logger;
}

/** A record read for a sink. */
export interface OutboxRow {
  id: number;
  envelope: Envelope;
}
