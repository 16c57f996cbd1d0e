/**
 * The embedded store's raw seconds: held in memory while their minute is open, then written
 * once per node and minute as one deflated block. A row per second cost ~20 WAL pages per
 * commit for 4 devices (their rows lie in 4 places of the tree, and the trim deletes in 4
 * more); a block per minute writes each second's bytes once, compressed ~5x (issue #37).
 * The open minutes' seconds are journaled: each commit appends what came since the last one as
 * one deflated row (`held`), deleted once their minutes are written as blocks, and read back at
 * open. So a kill -9 or a power cut loses none the group commit acknowledged, and a window
 * computed after it is never built from fewer seconds than were acknowledged (it would replace
 * the full one upstream, where windows are upserted by identity). Measured in docs/architecture.md.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { FieldValue } from "../model.ts";
import { LruMap } from "../util/lru.ts";
import { type Fresh, journalRow, journalSeconds } from "./held_journal.ts";

type Fields = Record<string, FieldValue>;
/** A node's seconds of one minute, by second. */
type Minute = Map<number, Fields>;

/** Nodes whose blocks a window's aggregation reads at once. */
const CHUNK = 1000;
/** Seconds held in memory at most (all nodes): past it, open minutes are written too. */
const MAX_HELD = 10_000;

const SCHEMA = `CREATE TABLE IF NOT EXISTS blocks (
  minute INTEGER NOT NULL, node TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (minute, node)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_node ON blocks (node, minute);
CREATE TABLE IF NOT EXISTS held (
  id INTEGER PRIMARY KEY, last_minute INTEGER NOT NULL, data BLOB NOT NULL
);`;

/** Options of {@link RawSeconds}. */
export interface RawSecondsOptions {
  /** Seconds kept per node at most. */
  maxRows: number;
  /** A minute is written once the newest second seen is this far past its end. */
  graceSeconds: number;
  /** Opens the group's transaction before a write. */
  begin: () => void;
}

function encode(seconds: [number, Fields][]): Uint8Array {
  return deflateRawSync(JSON.stringify(seconds));
}

/**
 * SQLite's order of TEXT (UTF-8 bytes: code points); JS's `<` compares UTF-16 units, which puts
 * a code point past U+FFFF before U+E000-U+FFFF. Held nodes merge into the table's order with it.
 */
export function byCodePoint(a: string, b: string): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const sx = x >= 0xd800 && x <= 0xdfff;
    if (sx !== (y >= 0xd800 && y <= 0xdfff)) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

function decode(data: unknown): [number, Fields][] {
  return JSON.parse(inflateRawSync(data as Uint8Array).toString());
}

/**
 * Raw seconds per node: the open minutes in memory, the closed ones in deflated blocks, keyed by
 * minute (a minute's blocks are written side by side) and indexed by node (a node's count, its
 * oldest block and its range are found without a scan: 250,000 MQTT nodes made a scan per new
 * node quadratic, `tests/hostile/topics_test.ts`).
 */
export class RawSeconds {
  /** node -> minute start (s) -> second -> fields. */
  #held = new Map<string, Map<number, Minute>>();
  #heldCount = 0;
  /** Seconds written in blocks per node (counted from the table on a miss). */
  #stored = new LruMap<string, number>(10_000);
  #newest = -Infinity;
  /** Seconds taken since the last {@link journal} (at most a commit's: bounded by MAX_TAKEN). */
  #fresh: Fresh[] = [];
  readonly #stmt: Record<string, StatementSync>;

  constructor(readonly db: DatabaseSync, readonly options: RawSecondsOptions) {
    db.exec(SCHEMA);
    this.#stmt = {
      get: db.prepare("SELECT data FROM blocks WHERE minute = ? AND node = ?"),
      put: db.prepare("INSERT OR REPLACE INTO blocks (minute, node, n, data) VALUES (?, ?, ?, ?)"),
      drop: db.prepare("DELETE FROM blocks WHERE minute = ? AND node = ?"),
      count: db.prepare("SELECT COALESCE(SUM(n), 0) AS n FROM blocks WHERE node = ?"),
      oldest: db.prepare("SELECT minute, n FROM blocks WHERE node = ? ORDER BY minute LIMIT 64"),
      range: db.prepare(
        "SELECT minute, data FROM blocks WHERE node = ? AND minute >= ? AND minute < ? " +
          "ORDER BY minute",
      ),
      nodesIn: db.prepare("SELECT DISTINCT node FROM blocks WHERE minute >= ? AND minute < ?"),
      nodesAfter: db.prepare(
        "SELECT DISTINCT node FROM blocks WHERE minute >= ? AND minute < ? AND node > ? " +
          "ORDER BY node LIMIT ?",
      ),
      blocksIn: db.prepare(
        "SELECT node, data FROM blocks WHERE minute >= ? AND minute < ? AND node > ? AND node <= ?",
      ),
      nodes: db.prepare("SELECT DISTINCT node FROM blocks"),
      journal: db.prepare("INSERT INTO held (last_minute, data) VALUES (?, ?)"),
      written: db.prepare("DELETE FROM held WHERE last_minute <= ?"),
    };
    this.#migrate();
    this.#replay();
  }

  /** The journal of a run that did not stop cleanly: its open minutes are held again. */
  #replay(): void {
    for (const row of this.db.prepare("SELECT data FROM held ORDER BY id").iterate()) {
      const seconds = journalSeconds(JSON.parse(inflateRawSync(row.data as Uint8Array).toString()));
      for (const [node, sec, fields] of seconds) this.#hold(node, sec, fields);
    }
  }

  /**
   * Appends the seconds taken since the last call as one row, in the open transaction: called
   * just before each commit, so what a commit acknowledges is on the disk with it.
   */
  journal(): void {
    if (this.#fresh.length === 0) return;
    let last = -Infinity;
    for (const [, sec] of this.#fresh) last = Math.max(last, sec - (sec % 60));
    this.options.begin();
    this.#stmt.journal.run(last, deflateRawSync(JSON.stringify(journalRow(this.#fresh))));
    this.#fresh = [];
  }

  /** Rows of the per-second table of earlier versions become blocks, once. */
  #migrate(): void {
    const old = this.db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'samples'",
    ).get();
    if (!old) return;
    const rows = this.db.prepare("SELECT node, ts, data FROM samples ORDER BY node, ts");
    for (const r of rows.iterate()) {
      this.#hold(String(r.node), Number(r.ts), JSON.parse(String(r.data)));
    }
    this.options.begin();
    this.persist({ all: true });
    this.db.exec("DROP TABLE samples");
  }

  #hold(node: string, sec: number, fields: Fields): void {
    let minutes = this.#held.get(node);
    if (!minutes) this.#held.set(node, minutes = new Map());
    const start = sec - (sec % 60);
    let minute = minutes.get(start);
    if (!minute) minutes.set(start, minute = new Map());
    const prev = minute.get(sec);
    if (!prev) this.#heldCount++;
    minute.set(sec, prev ? { ...prev, ...fields } : fields);
    if (sec > this.#newest) this.#newest = sec;
  }

  /** Takes seconds (merged into any held for the same second: later keys win), trims. */
  put(grouped: Map<string, Map<number, Fields>>): void {
    for (const [node, seconds] of grouped) {
      for (const [sec, fields] of seconds) {
        this.#hold(node, sec, fields);
        this.#fresh.push([node, sec, fields]);
      }
      this.#trim(node);
    }
    if (this.#heldCount > MAX_HELD) this.persist({ all: true });
  }

  /**
   * Writes the minutes closed (the newest second seen is past their end plus grace), or all
   * held (`all`: a stop, or memory full). A block already written for the minute (late data,
   * a restart) is merged with.
   */
  persist(options: { all?: boolean } = {}): void {
    const limit = this.#newest - this.options.graceSeconds - 60;
    let written = false;
    for (const [node, minutes] of this.#held) {
      for (const [start, minute] of minutes) {
        if (!options.all && start > limit) continue;
        this.options.begin();
        const old = this.#stmt.get.get(start, node);
        const merged = new Map<number, Fields>(old ? decode(old.data) : []);
        const before = merged.size;
        for (const [sec, fields] of minute) {
          const prev = merged.get(sec);
          merged.set(sec, prev ? { ...prev, ...fields } : fields);
        }
        const list = [...merged].sort((a, b) => a[0] - b[0]);
        this.#stmt.put.run(start, node, list.length, encode(list));
        const stored = this.#stored.get(node);
        if (stored !== undefined) this.#stored.set(node, stored + list.length - before);
        this.#heldCount -= minute.size;
        minutes.delete(start);
        written = true;
      }
      if (minutes.size === 0) this.#held.delete(node);
    }
    // The journal's rows whose minutes are all written now (every minute up to the limit was).
    if (options.all) {
      this.options.begin();
      this.db.exec("DELETE FROM held");
      this.#fresh = [];
    } else if (written) this.#stmt.written.run(limit);
  }

  #heldOf(node: string): number {
    let n = 0;
    for (const m of this.#held.get(node)?.values() ?? []) n += m.size;
    return n;
  }

  /** Keeps at most maxRows seconds of `node`, dropping the oldest (blocks first). */
  #trim(node: string): void {
    let stored = this.#stored.get(node);
    if (stored === undefined) {
      stored = Number(this.#stmt.count.get(node)?.n ?? 0);
      this.#stored.set(node, stored);
    }
    let excess = stored + this.#heldOf(node) - this.options.maxRows;
    if (excess <= 0) return;
    if (stored > 0) {
      this.options.begin();
      // Read first, then changed: no write while a statement walks the same table.
      for (const b of this.#stmt.oldest.all(node)) {
        if (excess <= 0) break;
        const n = Number(b.n);
        if (n <= excess) {
          this.#stmt.drop.run(b.minute, node);
          stored -= n;
          excess -= n;
          continue;
        }
        const kept = decode(this.#stmt.get.get(b.minute, node)?.data).slice(excess);
        this.#stmt.put.run(b.minute, node, kept.length, encode(kept));
        stored -= excess;
        excess = 0;
      }
      this.#stored.set(node, stored);
    }
    const minutes = this.#held.get(node);
    for (const start of [...minutes?.keys() ?? []].sort((a, b) => a - b)) {
      const minute = minutes!.get(start)!;
      for (const sec of [...minute.keys()].sort((a, b) => a - b)) {
        if (excess <= 0) return;
        minute.delete(sec);
        this.#heldCount--;
        excess--;
      }
      if (minute.size === 0) minutes!.delete(start);
    }
  }

  /**
   * Every node's seconds in [from, to) (s), one node at a time in node order (after `since`:
   * a window resumed), read 1,000 nodes' blocks at a time: memory holds a chunk however many
   * nodes the range has (250,000 MQTT nodes in a minute held all their blocks at once, and the
   * heap ran out at 160 MiB).
   */
  *eachNode(
    from: number,
    to: number,
    since: string | null = null,
  ): Generator<[string, [number, Fields][]]> {
    const first = from - (((from % 60) + 60) % 60);
    const held = [...this.#held].filter(([node, ms]) =>
      (since === null || byCodePoint(node, since) > 0) &&
      [...ms.keys()].some((s) => s + 60 > from && s < to)
    )
      .map(([node]) => node).sort(byCodePoint);
    let after = since ?? "";
    for (let h = 0;;) {
      const listed = this.#stmt.nodesAfter.all(first, to, after, CHUNK).map((r) => String(r.node));
      const upper = listed.length === CHUNK ? listed[CHUNK - 1] : null;
      const blocks = new Map<string, Uint8Array[]>();
      if (listed.length > 0) {
        for (const b of this.#stmt.blocksIn.all(first, to, after, listed.at(-1)!)) {
          const node = String(b.node);
          if (!blocks.has(node)) blocks.set(node, []);
          blocks.get(node)!.push(b.data as Uint8Array);
        }
      }
      const chunk = new Set(listed);
      while (h < held.length && (upper === null || byCodePoint(held[h], upper) <= 0)) {
        chunk.add(held[h++]);
      }
      for (const node of [...chunk].sort(byCodePoint)) {
        yield [node, this.#merge(node, blocks.get(node) ?? [], from, to)];
      }
      if (upper === null) return;
      after = upper;
    }
  }

  /** A node's seconds in [from, to) (s), oldest first. */
  seconds(node: string, from: number, to: number): [number, Fields][] {
    const first = from - (((from % 60) + 60) % 60);
    const blocks = this.#stmt.range.all(node, first, to).map((b) => b.data as Uint8Array);
    return this.#merge(node, blocks, from, to);
  }

  #merge(node: string, blocks: Uint8Array[], from: number, to: number): [number, Fields][] {
    const out = new Map<number, Fields>();
    for (const data of blocks) {
      for (const [sec, fields] of decode(data)) {
        if (sec >= from && sec < to) out.set(sec, fields);
      }
    }
    for (const [start, minute] of this.#held.get(node) ?? []) {
      if (start + 60 <= from || start >= to) continue;
      for (const [sec, fields] of minute) {
        if (sec < from || sec >= to) continue;
        const prev = out.get(sec);
        out.set(sec, prev ? { ...prev, ...fields } : fields);
      }
    }
    return [...out].sort((a, b) => a[0] - b[0]);
  }

  /** Nodes with seconds in [from, to), sorted; every node when no range is given. */
  nodes(range?: { from: number; to: number }): string[] {
    const found = new Set<string>();
    const rows = range
      ? this.#stmt.nodesIn.all(range.from - (((range.from % 60) + 60) % 60), range.to)
      : this.#stmt.nodes.all();
    for (const r of rows) found.add(String(r.node));
    for (const [node, minutes] of this.#held) {
      for (const start of minutes.keys()) {
        if (!range || (start + 60 > range.from && start < range.to)) found.add(node);
      }
    }
    return [...found].sort();
  }

  /** After a rollback: the blocks written since the last commit are gone, recount. */
  forgetCounts(): void {
    this.#stored = new LruMap<string, number>(10_000);
  }
}
