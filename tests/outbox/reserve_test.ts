import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { DiskReserve } from "../../src/outbox/reserve.ts";
import { canMount, withTmpfs } from "../helpers/tmpfs.ts";

Deno.test("the reserve is an eighth of the outbox bound (at most 4 MiB), written, given back once, taken again later", async () => {
  const dir = await Deno.makeTempDir();
  assert.equal(new DiskReserve(`${dir}/a`, 256 * 1024 ** 2).bytes, 4 * 1024 * 1024);
  const reserve = new DiskReserve(`${dir}/outbox.db.reserve`, 8 * 1024 * 1024);
  assert.equal(reserve.bytes, 1024 * 1024);
  reserve.keep(0);
  assert.ok(reserve.held);
  // Written, not sparse: its blocks are really held.
  const stat = Deno.statSync(`${dir}/outbox.db.reserve`);
  assert.equal(stat.size, 1024 * 1024);
  assert.ok((stat.blocks ?? 0) * 512 >= 1024 * 1024);
  const db = new DatabaseSync(`${dir}/outbox.db`);
  db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x)");
  assert.equal(reserve.recover(db), true);
  assert.equal(reserve.held, false);
  assert.throws(() => Deno.statSync(`${dir}/outbox.db.reserve`));
  assert.equal(reserve.recover(db), false, "nothing left to give");
  reserve.keep(); // too soon after the recovery: not tried
  assert.equal(reserve.held, false);
  reserve.keep(performance.now() + 60_000);
  assert.ok(reserve.held);
  db.close();
});

Deno.test("no room for the reserve: nothing is left behind (it is tried again later)", {
  ignore: !canMount,
}, () =>
  withTmpfs("1m", (dir) => {
    const reserve = new DiskReserve(`${dir}/outbox.db.reserve`, 16 * 1024 * 1024);
    reserve.keep(0);
    assert.equal(reserve.held, false);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    return Promise.resolve();
  }));
