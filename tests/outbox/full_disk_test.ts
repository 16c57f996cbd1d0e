/**
 * The outbox's full-disk state on its own (src/outbox/full_disk.ts): the probe rule, when the
 * state ends, and what the reserve's room may go to. A real status, a real SQLite file and a
 * real reserve file in a temp dir; the disk's refusal is SQLite's own message for a full disk.
 * tests/hostile/full_disk_test.ts shows the same rules on real full disks.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ComponentStatus } from "../../src/status.ts";
import { FullDisk, reserveMayGo } from "../../src/outbox/full_disk.ts";
import { OutboxFullError } from "../../src/outbox/errors.ts";

const DISK_FULL = new Error("database or disk is full");
const IO_ERROR = new Error("disk I/O error");

/** A full-disk state over a fresh outbox file (`held` bytes still to deliver) and its reserve. */
async function fullDisk(
  options: { grouped: boolean; held?: number },
): Promise<{ state: FullDisk; status: ComponentStatus; dir: string; close: () => void }> {
  const dir = await Deno.makeTempDir();
  const db = new DatabaseSync(`${dir}/outbox.db`);
  db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x)");
  const status = new ComponentStatus("outbox", "outbox", true);
  const state = new FullDisk(status, {
    path: `${dir}/outbox.db`,
    maxBytes: 8 * 1024 * 1024,
    grouped: options.grouped,
    db: () => db,
    held: () => options.held ?? 1000,
  });
  state.keepReserve();
  assert.ok(state.reserve.held);
  const close = () => {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  };
  return { state, status, dir, close };
}

Deno.test("a refused commit: one hand-over per commit probes, the others are refused at once; a commit that goes ends the state", async () => {
  const { state, status, close } = await fullDisk({ grouped: true });
  assert.equal(state.refusing(), null, "no full state: nothing refused");
  state.committing();
  state.commitRefused(DISK_FULL, 5);
  assert.equal(status.state, "down");
  assert.equal((status.info.full as { reason: string }).reason, "disk_full");
  assert.equal(state.refusing(), null, "the first hand-over since the commit probes");
  assert.equal(state.refusing(), "disk_full");
  assert.equal(state.refusing(), "disk_full");
  state.taken(); // the probe's records went into the open transaction: that proves no room yet
  assert.equal(status.state, "down");
  state.committing();
  assert.equal(state.refusing(), null, "a new commit: one more probe");
  assert.equal(state.refusing(), "disk_full");
  state.committing();
  state.committed();
  assert.equal(status.state, "up");
  assert.equal(status.info.full, undefined);
  assert.equal(state.refusing(), null);
  assert.equal(state.refusing(), null, "no full state: no probe to spend");
  close();
});

Deno.test("without the group commit and for a full buffer, nothing waits for a probe, and a hand-over taken ends the state", async () => {
  const ungrouped = await fullDisk({ grouped: false });
  ungrouped.state.commitRefused(IO_ERROR, 1);
  assert.equal((ungrouped.status.info.full as { reason: string }).reason, "io_error");
  assert.equal(ungrouped.state.refusing(), null);
  assert.equal(ungrouped.state.refusing(), null);
  ungrouped.state.taken();
  assert.equal(ungrouped.status.state, "up");
  assert.equal(ungrouped.status.info.full, undefined);
  ungrouped.close();

  const grouped = await fullDisk({ grouped: true });
  grouped.status.info.full = { reason: "buffer_full", since: new Date(0).toISOString() };
  grouped.status.state = "degraded";
  assert.equal(grouped.state.refusing(), null);
  assert.equal(grouped.state.refusing(), null);
  grouped.state.taken();
  assert.equal(grouped.status.state, "up");
  assert.equal(grouped.status.info.full, undefined);
  grouped.close();
});

Deno.test("the reserve goes to commits of deliveries and deletions, and to new records only once nothing is left to deliver", async () => {
  assert.equal(reserveMayGo(0, 1000), true, "deliveries and deletions only");
  assert.equal(reserveMayGo(5, 0), true, "new records, nothing left to deliver");
  assert.equal(reserveMayGo(5, 1000), false, "new records while some wait for delivery");

  const waiting = await fullDisk({ grouped: true, held: 1000 });
  waiting.state.commitRefused(DISK_FULL, 5);
  assert.ok(waiting.state.reserve.held, "new records with some to deliver: the reserve stays");
  waiting.state.commitRefused(IO_ERROR, 0);
  assert.ok(waiting.state.reserve.held, "an I/O error is not helped by room");
  waiting.state.commitRefused(DISK_FULL, 0);
  assert.equal(waiting.state.reserve.held, false, "a commit of deliveries gets the room");
  assert.throws(() => Deno.statSync(`${waiting.dir}/outbox.db.reserve`));
  waiting.close();

  const empty = await fullDisk({ grouped: true, held: 0 });
  empty.state.commitRefused(DISK_FULL, 5);
  assert.equal(empty.state.reserve.held, false, "nothing left to deliver: new records get it");
  empty.close();
});

Deno.test("a delivery the full disk refused is tried again once the reserve gave room; a refused hand-over shows the state and throws", async () => {
  const { state, status, close } = await fullDisk({ grouped: true });
  assert.equal(state.mayRetryDelivery(IO_ERROR), false);
  assert.ok(state.reserve.held);
  assert.equal(state.mayRetryDelivery(DISK_FULL), true);
  assert.equal(state.mayRetryDelivery(DISK_FULL), false, "no reserve left to give");

  assert.throws(
    () =>
      state.refuse(new Error("no room on the disk yet"), {
        records: 3,
        reason: "disk_full",
        at: 0,
      }),
    (e) => e instanceof OutboxFullError && e.reason === "disk_full" && /3 records/.test(e.message),
  );
  assert.equal(status.counters.refused_disk_full, 3);
  assert.equal(status.failed, 3);
  assert.deepEqual(status.info.full, { reason: "disk_full", since: new Date(0).toISOString() });
  assert.equal(status.state, "down");
  close();
});
