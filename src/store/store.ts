import type { FieldValue, Sample, Window } from "../model.ts";
import type { Logger } from "../log.ts";
import type { ComponentStatus } from "../status.ts";
import type { GroupFile } from "../util/group_commit.ts";

/** One aggregation level: `5m` from `1m` means a rollup over exactly five 1m windows. */
export interface Level {
  name: string;
  /** Window length in seconds. */
  seconds: number;
  /** The finer level this one rolls up from; raw samples when absent. */
  from?: Level;
}

/** A point of a raw series returned by {@link Store.query}. */
export interface SeriesPoint {
  ts: number;
  fields: Record<string, FieldValue>;
}

/** What {@link Store.query} asks for. */
export interface SeriesQuery {
  node: string;
  from: number;
  to: number;
  /** Level name for aggregated windows; raw samples when absent. */
  level?: string;
  /** At most this many points or windows, oldest first (default {@link QUERY_LIMIT}). */
  limit?: number;
}

/** Points or windows one query returns at most unless it asks for fewer. */
export const QUERY_LIMIT = 10_000;

/** The local store: recent history per node, and where windows are aggregated. */
export interface Store {
  readonly status: ComponentStatus;
  open(): Promise<void>;
  /** Accepts samples; for a remote store they may wait in a bounded buffer until it is reachable. */
  write(samples: Sample[]): Promise<void>;
  /** Writes anything buffered now. */
  flush(): Promise<void>;
  /**
   * Aggregates every closed window of `level` not yet aggregated (window end + grace <= now).
   * Returns how many windows were written and whether more remain (catch-up is bounded per call).
   */
  aggregate(level: Level, now: number): Promise<{ windows: number; more: boolean }>;
  /** Windows aggregated but not yet handed to the outbox, oldest first. */
  pendingWindows(limit: number): Promise<Window[]>;
  /** Removes the first `count` pending windows once the outbox holds them. */
  ackWindows(count: number): Promise<void>;
  /** A store with a file of its own joins the group commit (after the outbox). */
  readonly group?: GroupFile;
  query(query: SeriesQuery): Promise<SeriesPoint[] | Window[]>;
  nodes(): Promise<string[]>;
  close(): Promise<void>;
}

/** Store settings shared by both implementations. */
export interface StoreOptions {
  /** Keep at most this many seconds (rows) per node. */
  maxRows: number;
  /** Columns kept in the store; all fields when empty. */
  columns: string[];
  /** Late data allowance before a window is computed. */
  graceSeconds: number;
  /** How long archived windows are kept. */
  archiveTtlSeconds: number;
  /** At most this many windows computed per aggregate() call. */
  maxWindowsPerCall: number;
  /** The configured aggregation levels, finest first. */
  levels: Level[];
  /** Percentiles computed per window and column (`[50, 95]`); none when empty. */
  percentiles?: number[];
  /** Writes wait for the gateway's group commit (embedded: `commit()`) instead of each committing. */
  grouped?: boolean;
  /** NORMAL: the embedded store never syncs a commit (the outbox's `outbox.sync: normal`). */
  sync?: "FULL" | "NORMAL";
  /** Where the store reports what it had to repair. */
  log?: Logger;
  /** The time archived windows' age is judged by (a forward clock step ages none of them). */
  archiveNow?: () => number;
}
