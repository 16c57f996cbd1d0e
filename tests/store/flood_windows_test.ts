/**
 * A flood's minute (tests/hostile/topics_test.ts: 250,000 nodes) is aggregated 1,000 windows a
 * call, each call committed before the next: one transaction holds a bounded number of windows
 * and pending rows, and a crash after any commit resumes the window after its last node, so no
 * window is computed twice and none is missed.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { configureLog, createLogger } from "../../src/log.ts";
import type { Sample, Window } from "../../src/model.ts";
import { testOutbox } from "../helpers/delivery.ts";
import { Pipeline } from "../../src/pipeline.ts";
import { ComponentStatus } from "../../src/status.ts";
import { EmbeddedStore } from "../../src/store/embedded.ts";
import { byCodePoint } from "../../src/store/raw_seconds.ts";
import { GroupCommit } from "../../src/util/group_commit.ts";
import { LEVELS, storeOptions } from "../helpers/stores.ts";

configureLog({ level: "error" });

const T0 = Date.UTC(2026, 0, 1); // a 5-minute boundary
const NODES = 2500;
const node = (i: number) => `n${String(i).padStart(5, "0")}`;

/** Node i: seconds 0..2 of minute 0 valued i; even nodes written as blocks, odd ones held. */
async function flood(store: EmbeddedStore): Promise<void> {
  const of = (i: number): Sample[] =>
    [0, 1, 2].map((s) => ({ source: "t", node: node(i), ts: T0 + s * 1000, fields: { V: i } }));
  const evens = Array.from({ length: NODES / 2 }, (_, k) => of(2 * k)).flat();
  await store.write([...evens, { source: "t", node: "late", ts: T0 + 75_000, fields: { V: 0 } }]);
  await store.flush(); // minute 0 closed (75 s > 60 + grace): the even nodes' blocks
  await store.write(Array.from({ length: NODES / 2 }, (_, k) => of(2 * k + 1)).flat());
}

/** Runs every level as the scheduler would, once per minute up to `minutes`, each call counted. */
async function tick(store: EmbeddedStore, minutes: number, calls: number[] = []) {
  for (let m = 1; m <= minutes; m++) {
    for (const level of LEVELS) {
      for (let more = true; more;) {
        const r = await store.aggregate(level, T0 + m * 60_000 + 11_000);
        calls.push(r.windows);
        more = r.more;
      }
    }
  }
}

async function pending(store: EmbeddedStore): Promise<Window[]> {
  const w = await store.pendingWindows(100_000);
  await store.ackWindows(w.length);
  return w;
}

function assertEachNodeOnce(windows: Window[], level: string, start: number) {
  const got = windows.filter((w) => w.level === level && w.start === start && w.node !== "late");
  assert.equal(got.length, NODES, `${level} windows`);
  assert.equal(new Set(got.map((w) => w.node)).size, NODES, `${level}: each node once`);
  for (const w of got) assert.equal(w.stats.V.count, 3, `${level} ${w.node}: every second`);
}

Deno.test("a flood's minute is aggregated 1,000 windows a call; a crash after a call resumes after its last node", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flood-windows-" });
  const store = new EmbeddedStore(`${dir}/store.db`, storeOptions());
  await store.open();
  await flood(store);
  const first = await store.aggregate(LEVELS[0], T0 + 60_000 + 11_000);
  assert.deepEqual(first, { windows: 1000, more: true });
  // A crash just after that commit: the file as it stands (WAL included) opened elsewhere.
  await Deno.mkdir(`${dir}/cut`);
  for (const f of ["store.db", "store.db-wal"]) {
    await Deno.copyFile(`${dir}/${f}`, `${dir}/cut/${f}`);
  }
  const calls: number[] = [];
  await tick(store, 5, calls);
  // 1m: 1,000 + 1,000 + 500 (and the "late" node's window later); 5m: the same, no call over.
  assert.ok(calls.every((n) => n <= 1000), `windows per call: ${calls}`);
  const all = await pending(store);
  assertEachNodeOnce(all, "1m", T0);
  assertEachNodeOnce(all, "5m", T0);
  assert.deepEqual(all.find((w) => w.node === node(1999) && w.level === "5m")?.stats.V.sum, 5997);
  await store.close();

  const after = new EmbeddedStore(`${dir}/cut/store.db`, storeOptions());
  await after.open();
  await tick(after, 5);
  const resumed = await pending(after);
  const nodes1m = resumed.filter((w) => w.level === "1m" && w.start === T0).map((w) => w.node);
  // The first call's 1,000 windows were committed (and pending) before the cut: none again.
  assert.equal(nodes1m.filter((n) => n !== "late").length, NODES);
  assert.equal(new Set(nodes1m).size, nodes1m.length, "no window computed twice");
  assertEachNodeOnce(resumed, "5m", T0);
  await after.close();
});

Deno.test("the pipeline commits between calls and between batches to the outbox: no transaction holds the whole minute", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flood-commits-" });
  const outbox = testOutbox(dir, {
    maxBytes: 100 * 1024 ** 2,
    maxDeadLetterBytes: 1024 ** 2,
    sync: "full",
    grouped: true,
  });
  outbox.register("s", { kinds: ["window"], nodes: [], status: new ComponentStatus("s", "t") });
  const store = new EmbeddedStore(
    `${dir}/store.db`,
    storeOptions({ grouped: true, levels: [LEVELS[0]] }),
  );
  await store.open();
  const commits = new GroupCommit([outbox.group, store.group!], {
    intervalMs: 3_600_000,
    onError: () => {},
  });
  const pipeline = new Pipeline(store, outbox, createLogger("test.pipeline"), { commits });
  try {
    await flood(store);
    commits.commitNow();
    const before = store.figures.commits;
    assert.equal(await pipeline.aggregate([LEVELS[0]], T0 + 60_000 + 11_000), NODES);
    // The store committed between its 3 calls (2) and between the outbox's 3 batches (2).
    const made = store.figures.commits - before;
    assert.ok(made >= 4, `${made} store commits`);
    const db = new DatabaseSync(`${dir}/outbox.db`, { readOnly: true });
    const committed = Number(db.prepare("SELECT COUNT(*) AS n FROM records").get()?.n);
    db.close();
    // What the last commit left open: the last batch only.
    assert.equal(committed, 2000);
    commits.commitNow();
    assert.equal(outbox.read("s", 10_000).length, NODES);
    assert.deepEqual(await store.pendingWindows(10), []);
  } finally {
    commits.stop();
    await store.close();
    outbox.close();
  }
});

Deno.test("held nodes merge into the blocks' order as SQLite sorts TEXT (code points)", () => {
  const names = ["a", "\uff01", "\u{1f600}", "\ue000b", "z", "\u{10000}", "ab", ""];
  const db = new DatabaseSync(":memory:");
  db.exec("CREATE TABLE t (s TEXT)");
  for (const s of names) db.prepare("INSERT INTO t VALUES (?)").run(s);
  const sqlite = db.prepare("SELECT s FROM t ORDER BY s").all().map((r) => String(r.s));
  db.close();
  assert.deepEqual([...names].sort(byCodePoint), sqlite);
  assert.notDeepEqual([...names].sort(), sqlite, "JS's default order differs");
});
