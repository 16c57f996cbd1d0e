/**
 * pepeunit's ClickHouse tables (as its backend's migrations create them) and the rows the
 * policies make for them. Current servers get pepeunit's types (DateTime64(3),
 * TTL); servers older than 20.1 (Debian's 18.16) have neither, so there the
 * milliseconds go to a `create_ms` column and the sink deletes expired rows itself.
 * Every table is a ReplacingMergeTree keyed by the row's identity (node,
 * time): a replayed batch collapses into the rows it repeats.
 */
import type { Entry } from "../../model.ts";
import { nodeUuid } from "../../names.ts";

/** Which DDL and row layout a server gets. */
export type Dialect = "modern" | "legacy";

/** The tables, in the order they are created. */
export const TABLES = [
  "n_last_entry",
  "window_entry",
  "aggregation_entry",
  "file_entry",
  "timelapse_entry",
] as const;

/** One of pepeunit's tables (plus file_entry and timelapse_entry for files and videos). */
export type Table = typeof TABLES[number];

/** The dialect of a server version string (`18.16.1`, `24.8.4.13`). */
export function dialectOf(version: string): Dialect {
  const [major, minor] = version.split(".").map(Number);
  return major > 20 || (major === 20 && minor >= 1) ? "modern" : "legacy";
}

const STATE_TYPE = "Enum8('Number' = 1, 'Text' = 2, 'Json' = 3)";
const AGGREGATION_TYPE = "Enum8('Avg' = 1, 'Min' = 2, 'Max' = 3, 'Sum' = 4)";
const FILE_TYPE = "Enum8('Image' = 1, 'Binary' = 2)";

/** The CREATE TABLE statement of one table for a dialect. */
export function createTable(table: Table, options: { dialect: Dialect; database: string }) {
  const modern = options.dialect === "modern";
  const time = modern ? "DateTime64(3, 'UTC')" : "DateTime('UTC')";
  const created = modern
    ? "create_datetime DateTime64(3, 'UTC')"
    : "create_datetime DateTime('UTC'), create_ms UInt16";
  const key = modern
    ? "unit_node_uuid, create_datetime"
    : "unit_node_uuid, create_datetime, create_ms";
  let columns: string;
  let order = key;
  let ttl = "";
  switch (table) {
    case "n_last_entry":
      columns =
        `unit_node_uuid UUID, state String, state_type ${STATE_TYPE}, ${created}, max_count UInt32, size UInt32`;
      break;
    case "window_entry":
      columns =
        `unit_node_uuid UUID, state String, state_type ${STATE_TYPE}, ${created}, expiration_datetime DateTime('UTC'), size UInt32`;
      if (modern) ttl = " TTL expiration_datetime";
      break;
    case "aggregation_entry":
      columns =
        `unit_node_uuid UUID, state Float64, aggregation_type ${AGGREGATION_TYPE}, time_window_size UInt32, create_datetime ${time}, start_window_datetime ${time}, end_window_datetime ${time}, size UInt32`;
      order = "unit_node_uuid, aggregation_type, time_window_size, start_window_datetime";
      break;
    case "file_entry":
      columns =
        `unit_node_uuid UUID, object_key String, content_type String, state_type ${FILE_TYPE}, compression String, ${created}, expiration_datetime DateTime('UTC'), max_count UInt32, size UInt32, stored_size UInt32`;
      break;
    case "timelapse_entry":
      columns =
        `unit_node_uuid UUID, object_key String, create_datetime ${time}, first_frame_datetime ${time}, last_frame_datetime ${time}, frames UInt32, duration Float64, size UInt64`;
      order = "unit_node_uuid, first_frame_datetime, object_key";
      break;
  }
  // pepeunit's own settings (its migrations), plus insert deduplication for replayed batches.
  const pepeunit = table === "n_last_entry" || table === "window_entry"
    ? "merge_with_ttl_timeout = 600, index_granularity = 128"
    : "index_granularity = 128";
  const settings = modern
    ? ` SETTINGS ${pepeunit}, non_replicated_deduplication_window = 1000`
    : "";
  return `CREATE TABLE IF NOT EXISTS ${options.database}.${table} (${columns}) ` +
    `ENGINE = ReplacingMergeTree ORDER BY (${order})${ttl}${settings}`;
}

/** The row's time in milliseconds, as a ClickHouse expression of the dialect. */
function millisOf(dialect: Dialect): string {
  return dialect === "modern"
    ? "toUnixTimestamp64Milli(create_datetime)"
    : "toUInt64(toUnixTimestamp(create_datetime)) * 1000 + create_ms";
}

/** A node holding more rows than its newest row's max_count, and the time of its N-th newest. */
export interface OverLimit {
  node: string;
  cutoff: string | number;
}

/** Nodes of a max_count table (n_last_entry, file_entry) holding more rows than they keep. */
export function overLimitQuery(table: Table, options: { dialect: Dialect; database: string }) {
  const ms = millisOf(options.dialect);
  return `SELECT toString(unit_node_uuid) AS node, argMax(max_count, ${ms}) AS n, count() AS c, ` +
    `arrayReverseSort(groupArray(${ms}))[n] AS cutoff ` +
    `FROM ${options.database}.${table} FINAL GROUP BY unit_node_uuid HAVING n > 0 AND c > n`;
}

/** Deletes the rows older than each node's cutoff (a mutation). */
export function trimStatement(
  table: Table,
  over: OverLimit[],
  options: { dialect: Dialect; database: string },
): string {
  const ms = millisOf(options.dialect);
  const where = over.map((o) =>
    `(unit_node_uuid = '${o.node.replace(/[^0-9a-f-]/g, "")}' AND ${ms} < ${Number(o.cutoff)})`
  ).join(" OR ");
  return `ALTER TABLE ${options.database}.${table} DELETE WHERE ${where}`;
}

/** Rows whose expiry has passed (0 = never expires). */
export const EXPIRED = "expiration_datetime != 0 AND expiration_datetime < now()";

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** `YYYY-MM-DD hh:mm:ss.sss` in UTC, the text DateTime64(3, 'UTC') parses. */
function dateTime64(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${
    pad(d.getUTCHours())
  }:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** The JSONEachRow row of an entry for a dialect. */
export function rowOf(entry: Entry, dialect: Dialect): Record<string, unknown> {
  const modern = dialect === "modern";
  // DateTime('UTC') takes a unix time in seconds; DateTime64 its text form.
  const time = (ms: number) => modern ? dateTime64(ms) : Math.floor(ms / 1000);
  const created = modern
    ? { create_datetime: dateTime64(entry.ts) }
    : { create_datetime: Math.floor(entry.ts / 1000), create_ms: entry.ts % 1000 };
  const unit_node_uuid = nodeUuid(entry.node);
  switch (entry.table) {
    case "n_last_entry":
      return {
        unit_node_uuid,
        state: entry.state,
        state_type: entry.state_type,
        ...created,
        max_count: entry.max_count,
        size: entry.size,
      };
    case "window_entry":
      return {
        unit_node_uuid,
        state: entry.state,
        state_type: entry.state_type,
        ...created,
        expiration_datetime: Math.floor(entry.expires / 1000),
        size: entry.size,
      };
    case "aggregation_entry":
      return {
        unit_node_uuid,
        state: entry.state,
        aggregation_type: entry.aggregation_type,
        time_window_size: entry.time_window_size,
        create_datetime: time(entry.ts),
        start_window_datetime: time(entry.start),
        end_window_datetime: time(entry.end),
        size: entry.size,
      };
    case "file_entry":
      return {
        unit_node_uuid,
        object_key: entry.object_key,
        content_type: entry.content_type,
        state_type: entry.state_type,
        compression: entry.compression,
        ...created,
        expiration_datetime: Math.floor(entry.expires / 1000),
        max_count: entry.max_count,
        size: entry.size,
        stored_size: entry.stored_size,
      };
    case "timelapse_entry":
      return {
        unit_node_uuid,
        object_key: entry.object_key,
        create_datetime: time(entry.ts),
        first_frame_datetime: time(entry.first),
        last_frame_datetime: time(entry.last),
        frames: entry.frames,
        duration: entry.duration,
        size: entry.size,
      };
  }
}
