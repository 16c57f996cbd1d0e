/**
 * The group commit (gateway.commit_interval): the outbox and the store gather their writes in
 * one open transaction each and commit them together; a sender that waits is answered only
 * after the commit that holds its records, and a file's failed commit rolls back those after it.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog, createLogger } from "../../src/log.ts";
import type { Envelope, Sample } from "../../src/model.ts";
import { Outbox, OutboxFullError } from "../../src/outbox/outbox.ts";
import { testOutbox } from "../helpers/delivery.ts";
import { canMount, withTmpfs } from "../helpers/tmpfs.ts";
import { Pipeline } from "../../src/pipeline.ts";
import { ComponentStatus } from "../../src/status.ts";
import { EmbeddedStore } from "../../src/store/embedded.ts";
import { buildLevels } from "../../src/store/windows.ts";
import { GroupCommit, type GroupFile } from "../../src/util/group_commit.ts";

configureLog({ level: "error" });

function sample(i: number): Sample {
  return { source: "t", node: "n1", ts: 1_767_225_600_000 + i * 1000, fields: { seq: i } };
}

async function grouped() {
  const dir = await Deno.makeTempDir({ prefix: "group-" });
  const outbox = testOutbox(dir, {
    maxBytes: 10 * 1024 ** 2,
    maxDeadLetterBytes: 1024 ** 2,
    sync: "full",
    grouped: true,
  });
  outbox.register("s", { kinds: ["sample"], nodes: [], status: new ComponentStatus("s", "t") });
  const store = new EmbeddedStore(`${dir}/store.db`, {
    maxRows: 3600,
    columns: [],
    graceSeconds: 10,
    archiveTtlSeconds: 86_400,
    maxWindowsPerCall: 240,
    levels: buildLevels([{ name: "1m", seconds: 60 }]),
    grouped: true,
  });
  await store.open();
  const commits = new GroupCommit([outbox.group, store.group!], {
    intervalMs: 60_000,
    onError: () => {},
  });
  const pipeline = new Pipeline(store, outbox, createLogger("test.pipeline"), { commits });
  /** Records another connection (a Worker's, or the file after a crash) sees. */
  const committed = () => {
    const db = new DatabaseSync(`${dir}/outbox.db`, { readOnly: true });
    try {
      return Number(db.prepare("SELECT COUNT(*) AS n FROM records").get()?.n);
    } finally {
      db.close();
    }
  };
  return { dir, outbox, store, commits, pipeline, committed };
}

Deno.test("group commit: hand-overs wait in one transaction until the commit; a waiting sender is answered after it", async () => {
  const g = await grouped();
  try {
    await g.pipeline.emit([sample(1), sample(2)]);
    await g.pipeline.emit([sample(3)]);
    // Taken (the sink on this connection could read them) but not yet on disk for anyone else.
    assert.equal(g.committed(), 0);
    assert.equal(g.outbox.read("s", 10).length, 3);
    g.commits.commitNow();
    assert.equal(g.committed(), 3);
    // The outbox's and the store's: the open minute's raw seconds wait in memory, journaled.
    assert.equal(g.commits.report().commits, 2);
    assert.ok(g.commits.report().last_commit_at);
    // No sender was told "stored" and no window was made: the store's commit is not synced.
    assert.equal(g.store.figures.fsyncs, 0);

    // A sender that waits (MQTT ack: commit, /ingest) resolves only once its records are durable.
    let seen = -1;
    await g.pipeline.emit([sample(4)], { wait: true }).then(() => seen = g.committed());
    assert.equal(seen, 4);
    assert.equal(g.commits.report().early_commits, 1);
    // Its seconds are on the disk in the store too (the journal, synced): a power cut now loses
    // none of them from the windows.
    assert.equal(g.store.figures.fsyncs, 1);
    // Two waiting at once share one commit.
    const before = g.outbox.group.figures.commits;
    await Promise.all([
      g.pipeline.emit([sample(5)], { wait: true }),
      g.pipeline.emit([sample(6)], { wait: true }),
    ]);
    assert.equal(g.outbox.group.figures.commits - before, 1);
    assert.equal(g.committed(), 6);
    // With synchronous=FULL, each outbox commit is an fsync.
    assert.ok(g.commits.report().fsyncs >= g.outbox.group.figures.commits);
  } finally {
    g.commits.stop();
    await g.store.close();
    g.outbox.close();
  }
});

Deno.test("group commit: cursor moves and deletions ride in the group; a stop commits what is left", async () => {
  const g = await grouped();
  await g.pipeline.emit([sample(1), sample(2)]);
  g.commits.commitNow();
  const rows = g.outbox.read("s", 10);
  g.outbox.ack("s", rows.at(-1)!.id);
  assert.equal(g.outbox.depth("s").records, 0);
  assert.equal(g.committed(), 2); // deleted in the group, not yet on disk
  await g.pipeline.emit([sample(3)]);
  g.commits.stop();
  await g.store.close();
  g.outbox.close();
  assert.equal(g.committed(), 1);
  // Reopened: the delivered rows stay delivered, the last sample waits for the sink.
  const again = new Outbox({ ...g.outbox.options });
  again.open();
  again.register("s", { kinds: ["sample"], nodes: [], status: new ComponentStatus("s", "t") });
  assert.deepEqual(
    again.read("s", 10).map((r) => (r.envelope.data as Sample).fields.seq),
    [3],
  );
  again.close();
});

Deno.test("group commit: a transaction whose records all went upstream is not committed (nothing reaches the file); anything else to keep is", async () => {
  const g = await grouped();
  const seq = (rows: { envelope: Envelope }[]) =>
    rows.map((r) => (r.envelope.data as Sample).fields.seq);
  const deliverAll = () => {
    const rows = g.outbox.read("s", 100);
    if (rows.length) g.outbox.ack("s", rows.at(-1)!.id);
    return rows;
  };
  try {
    await g.pipeline.emit([sample(1), sample(2)]);
    const first = deliverAll();
    const made = g.outbox.group.figures.commits;
    g.commits.commitNow();
    // The log began empty and ends empty: the outbox's transaction is thrown away, not written.
    assert.equal(g.outbox.group.figures.commits, made);
    assert.equal(g.outbox.group.figures.skipped, 1);
    assert.equal(g.commits.report().skipped, 1);
    assert.equal(g.committed(), 0);
    assert.equal(g.outbox.depth("s").records, 0);

    // Ids never come again (a batch read ahead may still hold the skipped ones).
    await g.pipeline.emit([sample(3)]);
    const next = g.outbox.read("s", 100);
    assert.deepEqual(seq(next), [3]);
    assert.ok(next[0].id > first.at(-1)!.id);
    // One record not delivered: committed as always.
    g.commits.commitNow();
    assert.equal(g.outbox.group.figures.commits, made + 1);
    assert.equal(g.committed(), 1);

    // The log did not begin empty: its delivery (a deletion of a committed row) is committed.
    await g.pipeline.emit([sample(4)]);
    deliverAll();
    g.commits.commitNow();
    assert.equal(g.outbox.group.figures.commits, made + 2);
    assert.equal(g.committed(), 0);

    // A receipt (MQTT: a redelivery recognised) is kept even when its records went upstream.
    g.outbox.append([{ kind: "sample", data: sample(5) }], {
      receipts: { source: "m", entries: [["7", "d7"]] },
    });
    deliverAll();
    g.commits.commitNow();
    assert.equal(g.outbox.group.figures.commits, made + 3);
    assert.equal(g.outbox.receipt("m", "7"), "d7");

    // Dead letters too.
    await g.pipeline.emit([sample(6)]);
    const bad = g.outbox.readRows("s", 100);
    g.outbox.deadLetter("s", bad, "HTTP 400: bad field");
    g.outbox.ack("s", bad.at(-1)!.id);
    g.commits.commitNow();
    assert.equal(g.outbox.group.figures.commits, made + 4);
    assert.equal(g.outbox.group.figures.skipped, 1);
  } finally {
    g.commits.stop();
    await g.store.close();
    g.outbox.close();
  }
  // Reopened: nothing waits, the receipt and the dead letter are there, and ids go on past all.
  const again = new Outbox({ ...g.outbox.options });
  again.open();
  again.register("s", { kinds: ["sample"], nodes: [], status: new ComponentStatus("s", "t") });
  try {
    assert.equal(again.read("s", 10).length, 0);
    assert.equal(again.receipt("m", "7"), "d7");
    assert.equal(again.deadLetters.take("s", 10).length, 1);
    again.append([{ kind: "sample", data: sample(7) }]);
    assert.ok(again.read("s", 10)[0].id > 6);
  } finally {
    again.close();
  }
});

Deno.test("outbox ids: a new file's log has no AUTOINCREMENT; after a restart with an empty log, ids go on past the cursors (no record is passed unread)", async () => {
  const g = await grouped();
  await g.pipeline.emit([sample(1), sample(2), sample(3)]);
  g.commits.commitNow(); // committed: the next transaction does not begin with an empty log
  const rows = g.outbox.read("s", 10);
  g.outbox.ack("s", rows.at(-1)!.id);
  g.commits.stop(); // the deletions and the cursor at 3, committed
  await g.store.close();
  g.outbox.close();
  const db = new DatabaseSync(`${g.dir}/outbox.db`, { readOnly: true });
  const sql = String(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'records'").get()?.sql);
  const cursor = Number(db.prepare("SELECT last_id FROM cursors").get()?.last_id);
  db.close();
  assert.doesNotMatch(sql, /AUTOINCREMENT/);
  assert.equal(cursor, rows.at(-1)!.id);
  assert.equal(g.committed(), 0);

  const again = new Outbox({ ...g.outbox.options });
  again.open();
  again.register("s", { kinds: ["sample"], nodes: [], status: new ComponentStatus("s", "t") });
  try {
    again.append([{ kind: "sample", data: sample(4) }]);
    const next = again.read("s", 10);
    assert.deepEqual(next.map((r) => (r.envelope.data as Sample).fields.seq), [4]);
    assert.ok(next[0].id > cursor);
  } finally {
    again.close();
  }
});

Deno.test("group commit: a failed commit rolls back the files after it and the waiters hear of it", async () => {
  const calls: string[] = [];
  const figures = { commits: 0, fsyncs: 0, checkpoints: 0 };
  const failing: GroupFile = {
    commit: () => {
      calls.push("a.commit");
      throw new Error("disk full");
    },
    rollback: () => calls.push("a.rollback"),
    figures,
  };
  const after: GroupFile = {
    commit: () => calls.push("b.commit"),
    rollback: () => calls.push("b.rollback"),
    figures,
  };
  const errors: unknown[] = [];
  const commits = new GroupCommit([failing, after], {
    intervalMs: 60_000,
    onError: (e) => errors.push(e),
  });
  await assert.rejects(commits.committed(), /disk full/);
  assert.deepEqual(calls, ["a.commit", "b.rollback"]);
  assert.equal(errors.length, 1);
});

Deno.test("group commit: a rollback counts the records it threw away and recounts what waits", async () => {
  const g = await grouped();
  try {
    const envs: Envelope[] = [1, 2, 3].map((i) => ({ kind: "sample", data: sample(i) }));
    g.outbox.append(envs.slice(0, 1));
    g.commits.commitNow();
    g.outbox.append(envs.slice(1));
    assert.equal(g.outbox.depth("s").records, 3);
    g.outbox.group.rollback();
    assert.equal(g.outbox.depth("s").records, 1);
    assert.equal(g.outbox.status.toJSON().dropped.rolled_back, 2);
  } finally {
    g.commits.stop();
    await g.store.close();
    g.outbox.close();
  }
});

Deno.test("group commit: a waiting sender's records are read by no sink before their commit; others at once", async () => {
  const g = await grouped();
  try {
    await g.pipeline.emit([sample(1)]);
    // Not committed yet, but no sender waits for them: a sink may take them now (delivered and
    // deleted within one transaction, they never reach the disk).
    assert.equal(g.outbox.read("s", 10).length, 1);
    let woke = 0;
    g.outbox.onAppend(() => woke++);
    const waiting = g.pipeline.emit([sample(2)], { wait: true });
    await g.pipeline.emit([sample(3)]);
    // sample 2's sender waits: delivered and then lost to a crash before the commit, it would
    // be sent again and stored twice. Nothing from it on is read until the commit.
    assert.deepEqual(g.outbox.read("s", 10).map((r) => (r.envelope.data as Sample).fields.seq), [
      1,
    ]);
    const before = woke;
    await waiting;
    assert.ok(woke > before, "deliveries are woken by the commit");
    assert.deepEqual(
      g.outbox.read("s", 10).map((r) => (r.envelope.data as Sample).fields.seq),
      [1, 2, 3],
    );
  } finally {
    g.commits.stop();
    await g.store.close();
    g.outbox.close();
  }
});

Deno.test(
  "group commit: a commit the full disk refuses is rolled back, counted and refused to waiters; the next one goes",
  {
    ignore: !canMount,
  },
  async () => {
    await withTmpfs("1m", async (dir) => {
      // Something else on the card takes room; the owner deletes it later.
      await Deno.writeFile(`${dir}/other`, new Uint8Array(300_000));
      const outbox = new Outbox({
        path: `${dir}/outbox.db`,
        maxBytes: 100 * 1024 ** 2,
        maxDeadLetterBytes: 1024 ** 2,
        maxAgeMs: 0,
        onFull: "drop_oldest",
        sync: "full",
        grouped: true,
        exclusive: true,
        log: createLogger("test.outbox"),
      });
      outbox.open();
      const status = new ComponentStatus("s", "t");
      outbox.register("s", { kinds: ["sample"], nodes: [], status });
      const commits = new GroupCommit([outbox.group], { intervalMs: 60_000, onError: () => {} });
      const big = (i: number): Envelope => ({
        kind: "sample",
        data: { ...sample(i), fields: { seq: i, pad: "x".repeat(20_000 + i) } },
      });
      let committed = 0;
      let failure: unknown = null;
      for (let i = 0; i < 200 && failure === null; i++) {
        try {
          outbox.append([big(i)]);
          commits.commitNow();
          committed++;
        } catch (e) {
          failure = e;
        }
      }
      assert.ok(failure instanceof OutboxFullError, `the disk filled up: ${failure}`);
      assert.ok(committed > 0);
      const dropped = outbox.status.toJSON().dropped;
      assert.equal((dropped.disk_full ?? 0) + (dropped.io_error ?? 0), 1, "the rolled-back record");
      // What waits for the sink is what was committed, no more.
      assert.equal(outbox.depth("s").records, committed);
      // A sender that waits hears of the failure (MQTT: no PUBACK, /ingest: an error).
      outbox.append([big(1000)]);
      await assert.rejects(
        new Promise<void>((resolve, reject) => {
          commits.committed().then(resolve, reject);
        }),
        OutboxFullError,
      );
      // Room again: the next commits go, and nothing committed before was lost.
      await Deno.remove(`${dir}/other`);
      outbox.append([sample(5000)].map((data): Envelope => ({ kind: "sample", data })));
      commits.commitNow();
      assert.equal(outbox.depth("s").records, committed + 1);
      const rows = outbox.read("s", 1000);
      assert.equal(rows.length, committed + 1);
      outbox.ack("s", rows.at(-1)!.id);
      commits.commitNow();
      assert.equal(outbox.depth("s").records, 0);
      outbox.close();
    });
  },
);

Deno.test(
  "group commit: after a full disk, a transaction whose records all went upstream is committed anyway: only a commit that goes ends the full state",
  { ignore: !canMount },
  async () => {
    await withTmpfs("1m", async (dir) => {
      await Deno.writeFile(`${dir}/other`, new Uint8Array(700_000));
      const outbox = testOutbox(dir, {
        maxBytes: 100 * 1024 ** 2,
        maxDeadLetterBytes: 1024 ** 2,
        sync: "full",
        grouped: true,
        exclusive: true,
      });
      outbox.register("s", { kinds: ["sample"], nodes: [], status: new ComponentStatus("s", "t") });
      const commits = new GroupCommit([outbox.group], { intervalMs: 60_000, onError: () => {} });
      const record = (i: number, pad: number): Envelope => ({
        kind: "sample",
        data: { ...sample(i), fields: { seq: i, pad: "x".repeat(pad) } },
      });
      try {
        // A record larger than the room left: its commit fails, the log stays empty.
        outbox.append([record(1, 600_000)]);
        assert.throws(() => commits.commitNow(), OutboxFullError);
        assert.ok(outbox.status.info.full, "the full state is shown");
        assert.equal(outbox.depth("s").records, 0);

        // Room again; a probe's record goes upstream before the commit.
        await Deno.remove(`${dir}/other`);
        outbox.append([record(2, 10)]);
        const rows = outbox.read("s", 10);
        outbox.ack("s", rows.at(-1)!.id);
        const made = outbox.group.figures.commits;
        commits.commitNow();
        assert.equal(outbox.group.figures.commits, made + 1, "committed, not skipped");
        assert.equal(outbox.status.info.full, undefined);
        assert.equal(outbox.status.state, "up");
      } finally {
        outbox.close();
      }
    });
  },
);

Deno.test("group commit: /status shows the loss window (commit_interval) and the last commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "group-agent-" });
  const agent = new Agent(parseConfig(
    `gateway: {id: g, data_dir: ${dir}, commit_interval: 5s}
http: {enabled: false}
`,
    gatewaySchema,
  ));
  await agent.start();
  try {
    await agent.control.ingest([sample(1)]); // /ingest's 200: after its commit
    const commits = agent.control.status().outbox.commits!;
    assert.equal(commits.commit_interval_ms, 5000);
    assert.ok(commits.last_commit_at, "a commit was made");
    assert.ok(commits.commits >= 1 && commits.early_commits >= 1);
  } finally {
    await agent.stop();
  }
});

Deno.test("group commit: a sink that keeps up leaves the outbox nothing to commit (the interval's commit waits for its delivery)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "group-skip-" });
  let received = 0;
  const hook = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    received += (await req.text()).split('"node"').length - 1;
    return new Response(null, { status: 204 });
  });
  const agent = new Agent(parseConfig(
    `gateway: {id: g, data_dir: ${dir}, commit_interval: 2s}
http: {enabled: false}
sources:
  mppt: {type: vedirect, simulate: mppt}
sinks:
  hook: {type: webhook, url: "http://127.0.0.1:${hook.addr.port}/", forward: [sample], max_wait: 2s}
  bucket: {type: webhook, url: "http://127.0.0.1:${hook.addr.port}/", forward: [event], max_wait: 1m}
`,
    gatewaySchema,
  ));
  await agent.start();
  try {
    // A device second every second, each held 2 s by max_wait: some always wait at a commit,
    // unless the commit asks for them at once. A sink with a max_wait longer than the interval
    // (batches that long on purpose) is not asked; with no event to wait for, it holds nothing.
    for (let i = 0; i < 300 && (agent.control.status().outbox.commits!.skipped ?? 0) < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const commits = agent.control.status().outbox.commits!;
    assert.ok((commits.skipped ?? 0) >= 2, `skipped: ${JSON.stringify(commits)}`);
    assert.ok(received > 0);
  } finally {
    await agent.stop();
    await hook.shutdown();
  }
});
