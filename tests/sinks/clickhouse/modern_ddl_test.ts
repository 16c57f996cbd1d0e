/**
 * The modern DDL (DateTime64(3), TTL, insert deduplication) and the sink's
 * retention SQL, run in ClickHouse 26.7 embedded (npm:chdb under Node): the
 * Debian server here is 18.16 and only proves the legacy dialect.
 */
import assert from "node:assert/strict";
import type { Entry } from "../../../src/model.ts";
import {
  createTable,
  EXPIRED,
  overLimitQuery,
  rowOf,
  type Table,
  TABLES,
  trimStatement,
} from "../../../src/sinks/clickhouse/tables.ts";

const CHDB = "chdb@3.4.0";
const CACHE = `${Deno.env.get("HOME") ?? "/tmp"}/.cache/edge-gateway/${CHDB.replace("@", "-")}`;

/** Installs npm:chdb once into a cache dir (it is 0.5 GiB: kept out of the repository). */
async function ensureChdb(): Promise<void> {
  try {
    await Deno.stat(`${CACHE}/node_modules/chdb/package.json`);
    return;
  } catch { /* install */ }
  await Deno.mkdir(CACHE, { recursive: true });
  const out = await new Deno.Command("npm", {
    args: ["install", "--prefix", CACHE, "--no-save", "--no-audit", "--no-fund", CHDB],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `npm install ${CHDB}: ${new TextDecoder().decode(out.stderr)}`);
}

/** Runs statements in one chdb session under Node; returns each one's output (or its error). */
async function chdb(statements: string[]): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "chdb-" });
  await Deno.writeTextFile(`${dir}/statements.json`, JSON.stringify(statements));
  await Deno.writeTextFile(
    `${CACHE}/run.mjs`,
    `import { Session } from "chdb";
import { readFileSync } from "node:fs";
const [file, path] = process.argv.slice(2);
const session = new Session(path);
const out = JSON.parse(readFileSync(file, "utf8")).map((sql) => {
  try { return session.query(sql, "TSVRaw"); } catch (e) { return "ERROR " + e.message; }
});
console.log(JSON.stringify(out));
`,
  );
  const out = await new Deno.Command("node", {
    args: [`${CACHE}/run.mjs`, `${dir}/statements.json`, `${dir}/db`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function insert(table: Table, entries: Entry[], token: string): string {
  const rows = entries.map((e) => JSON.stringify(rowOf(e, "modern"))).join("\n");
  return `INSERT INTO pepe.${table} SETTINGS insert_deduplication_token = '${token}' ` +
    `FORMAT JSONEachRow ${rows}`;
}

Deno.test("modern dialect: pepeunit's types and TTL, deduplicated replays, retention SQL (ClickHouse 26.7 via chdb)", async () => {
  await ensureChdb();
  const sql = { dialect: "modern" as const, database: "pepe" };
  const node = "11111111-1111-4111-8111-111111111111";
  const t0 = Date.UTC(2026, 10, 23, 6, 0, 0, 123);
  const n = (i: number): Entry => ({
    table: "n_last_entry",
    node,
    ts: t0 + i,
    state: String(i),
    state_type: "Number",
    max_count: 3,
    size: 1,
  });
  const batch = [0, 1, 2, 3, 4].map(n);
  const now = Date.now();
  const out = await chdb([
    "CREATE DATABASE IF NOT EXISTS pepe",
    ...TABLES.map((t) => createTable(t, sql)),
    insert("n_last_entry", batch, "batch-1"),
    insert("n_last_entry", batch, "batch-1"), // the same batch replayed
    "SELECT count() FROM pepe.n_last_entry",
    `SELECT name, type FROM system.columns WHERE database = 'pepe' AND table = 'n_last_entry'`,
    "SHOW CREATE TABLE pepe.window_entry",
    overLimitQuery("n_last_entry", sql),
    insert("window_entry", [
      {
        table: "window_entry",
        node,
        ts: now - 120_000,
        state: "old",
        state_type: "Text",
        expires: now - 60_000,
        size: 3,
      },
      {
        table: "window_entry",
        node,
        ts: now,
        state: "new",
        state_type: "Text",
        expires: now + 60_000,
        size: 3,
      },
    ], "w-1"),
    `SELECT state FROM pepe.window_entry WHERE NOT (${EXPIRED})`,
    insert("aggregation_entry", [{
      table: "aggregation_entry",
      node,
      ts: t0,
      state: 2.5,
      aggregation_type: "Avg",
      time_window_size: 60,
      start: t0 - 60_000,
      end: t0,
      size: 7,
    }], "a-1"),
    "SELECT state, aggregation_type, toUnixTimestamp64Milli(start_window_datetime), size FROM pepe.aggregation_entry",
    insert("file_entry", [{
      table: "file_entry",
      node,
      ts: t0,
      object_key: `${node}/n/0.jpg.gz`,
      content_type: "application/gzip",
      state_type: "Image",
      compression: "gzip",
      max_count: 2,
      expires: 0,
      size: 204,
      stored_size: 150,
    }], "f-1"),
    "SELECT object_key, state_type, size, stored_size FROM pepe.file_entry",
    insert("timelapse_entry", [{
      table: "timelapse_entry",
      node,
      ts: t0 + 5000,
      object_key: `${node}/timelapse/${t0}-${t0 + 2900}.mp4`,
      first: t0,
      last: t0 + 2900,
      frames: 30,
      duration: 3,
      size: 99_000,
    }], "t-1"),
    "SELECT toUnixTimestamp64Milli(first_frame_datetime), toUnixTimestamp64Milli(last_frame_datetime), frames, duration, size FROM pepe.timelapse_entry",
    // pepeunit's backend reads (app/repositories/data_pipe_repository.py), on our tables.
    `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY unit_node_uuid ORDER BY create_datetime ASC) AS id FROM pepe.n_last_entry WHERE unit_node_uuid = '${node}') AS numbered_entries WHERE unit_node_uuid = '${node}' AND state ILIKE '%' order by id desc limit 2`,
    `select unit_node_uuid, state, state_type, create_datetime, expiration_datetime, size from pepe.window_entry where unit_node_uuid = '${node}' AND state ILIKE '%ne%' order by create_datetime asc`,
    `select unit_node_uuid, state, aggregation_type, time_window_size, create_datetime, start_window_datetime, end_window_datetime from pepe.aggregation_entry where unit_node_uuid = '${node}' AND aggregation_type IN ('Avg') AND time_window_size = 60 order by create_datetime asc`,
    "SHOW CREATE TABLE pepe.n_last_entry",
  ]);
  const at = 1 + TABLES.length + 2; // after CREATE DATABASE, the tables and the two inserts
  const [count, columns, create, over] = out.slice(at, at + 4);
  const [live, agg, file] = [out[at + 5], out[at + 7], out[at + 9]];
  for (const o of out) assert.ok(!o.startsWith("ERROR"), o);
  assert.equal(count.trim(), "5", "a replayed batch is dropped");
  assert.match(columns, /create_datetime\tDateTime64\(3, 'UTC'\)/);
  assert.match(columns, /state_type\tEnum8\('Number' = 1, 'Text' = 2, 'Json' = 3\)/);
  assert.match(create, /TTL expiration_datetime/);
  assert.match(create, /ReplacingMergeTree/);
  const [overNode, limit, rows, cutoff] = over.trim().split("\t");
  assert.deepEqual([overNode, limit, rows, Number(cutoff)], [node, "3", "5", t0 + 2]);
  assert.equal(live.trim(), "new");
  assert.equal(agg.trim(), `2.5\tAvg\t${t0 - 60_000}\t7`);
  assert.equal(file.trim(), `${node}/n/0.jpg.gz\tImage\t204\t150`);
  assert.equal(out[at + 11].trim(), `${t0}\t${t0 + 2900}\t30\t3\t99000`);
  // pepeunit's NRecords, TimeWindow and Aggregation reads work on the tables the gateway made.
  const [nRecords, timeWindow, aggregation, createN] = out.slice(at + 12, at + 16);
  const newest = nRecords.trim().split("\n").map((l) => l.split("\t"));
  assert.deepEqual(newest.map((r) => [r[0], r[1], r[2], r.at(-1)]), [
    [node, "4", "Number", "5"],
    [node, "3", "Number", "4"],
  ]);
  assert.deepEqual(timeWindow.trim().split("\t").slice(0, 3), [node, "new", "Text"]);
  assert.deepEqual(aggregation.trim().split("\t").slice(0, 4), [node, "2.5", "Avg", "60"]);
  // pepeunit's settings on its tables.
  assert.match(createN, /merge_with_ttl_timeout = 600/);
  assert.match(createN, /index_granularity = 128/);

  // The trim mutation the sink issues keeps the newest 3.
  const trim = trimStatement("n_last_entry", [{ node, cutoff }], sql);
  const after = await chdb([
    "CREATE DATABASE IF NOT EXISTS pepe",
    createTable("n_last_entry", sql),
    insert("n_last_entry", batch, "b"),
    `${trim} SETTINGS mutations_sync = 1`,
    "SELECT groupArray(state) FROM (SELECT state FROM pepe.n_last_entry ORDER BY create_datetime)",
  ]);
  for (const o of after) assert.ok(!o.startsWith("ERROR"), o);
  assert.equal(after[4].trim(), "['2','3','4']");
});
