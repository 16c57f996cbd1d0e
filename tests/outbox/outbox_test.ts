import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { configureLog } from "../../src/log.ts";
import type { Envelope, Sample } from "../../src/model.ts";
import { DatabaseSync } from "node:sqlite";
import { Outbox, OutboxFullError, type OutboxOptions } from "../../src/outbox/outbox.ts";
import { ComponentStatus } from "../../src/status.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { globMatcher, globRegExp } from "../../src/util/glob.ts";
import { canMount, withTmpfs } from "../helpers/tmpfs.ts";

configureLog({ level: "error" });

function sampleEnv(i: number, node = "n1"): Envelope {
  const data: Sample = { source: "t", node, ts: 1_700_000_000_000 + i, fields: { seq: i } };
  return { kind: "sample", data };
}

async function openOutbox(over: Partial<OutboxOptions> = {}, dir?: string) {
  dir ??= await Deno.makeTempDir({ prefix: "outbox-" });
  const ob = new Outbox({
    maxDeadLetterBytes: 16 * 1024 * 1024,
    path: `${dir}/outbox.db`,
    maxBytes: 10 * 1024 ** 2,
    maxAgeMs: 0,
    onFull: "drop_oldest",
    sync: "normal",
    log: createLogger("test.outbox"),
    ...over,
  });
  ob.open();
  return { ob, dir };
}

function register(
  ob: Outbox,
  name: string,
  kinds: Envelope["kind"][] = ["sample"],
  nodes: string[] = [],
) {
  const status = new ComponentStatus(name, "test");
  ob.register(name, { kinds, nodes, status });
  return status;
}

const seqs = (rows: { envelope: Envelope }[]) =>
  rows.map((r) => (r.envelope.data as Sample).fields.seq);

Deno.test("records replay in order, and each sink has its own cursor", async () => {
  const { ob } = await openOutbox();
  register(ob, "a");
  register(ob, "b");
  ob.append(Array.from({ length: 10 }, (_, i) => sampleEnv(i)));
  const a1 = ob.read("a", 4);
  assert.deepEqual(seqs(a1), [0, 1, 2, 3]);
  ob.ack("a", a1.at(-1)!.id);
  assert.deepEqual(seqs(ob.read("a", 100)), [4, 5, 6, 7, 8, 9]);
  // b has not acknowledged anything: it still sees everything, and nothing was removed.
  assert.deepEqual(seqs(ob.read("b", 100)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(ob.depth("b").records, 10);
  const before = ob.bytes;
  ob.ack("b", ob.read("b", 2).at(-1)!.id);
  assert.ok(ob.bytes < before, "rows both sinks passed are removed");
  assert.equal(ob.depth("a").records, 6);
  ob.close();
});

Deno.test("a sink only receives the kinds and nodes it forwards", async () => {
  const { ob } = await openOutbox();
  register(ob, "samples", ["sample"], ["mppt*"]);
  register(ob, "windows", ["window"]);
  ob.append([sampleEnv(1, "mppt1"), sampleEnv(2, "bmv1"), sampleEnv(3, "mppt2")]);
  ob.append([{
    kind: "window",
    data: { level: "1m", node: "mppt1", start: 0, end: 60_000, stats: {} },
  }]);
  assert.deepEqual(seqs(ob.read("samples", 10)), [1, 3]);
  const w = ob.read("windows", 10);
  assert.equal(w.length, 1);
  assert.equal(w[0].envelope.kind, "window");
  // Nothing more for "windows": its cursor moves past the samples so they can be removed.
  ob.ack("windows", w[0].id);
  assert.equal(ob.read("windows", 10).length, 0);
  ob.close();
});

Deno.test("kinds no sink wants are not stored at all", async () => {
  const { ob } = await openOutbox();
  register(ob, "w", ["window"]);
  assert.equal(ob.append([sampleEnv(1)]), 0);
  assert.equal(ob.bytes, 0);
  ob.close();
});

Deno.test("unacknowledged records survive a restart and replay from the cursor", async () => {
  const { ob, dir } = await openOutbox();
  register(ob, "a");
  ob.append(Array.from({ length: 5 }, (_, i) => sampleEnv(i)));
  ob.ack("a", ob.read("a", 2).at(-1)!.id);
  ob.close();
  const { ob: again } = await openOutbox({}, dir);
  register(again, "a");
  assert.deepEqual(seqs(again.read("a", 10)), [2, 3, 4]);
  again.close();
});

Deno.test("a full buffer drops the oldest and says so per sink, with the reason", async () => {
  const { ob } = await openOutbox({ maxBytes: 20_000 });
  const a = register(ob, "a");
  const b = register(ob, "b");
  for (let i = 0; i < 100; i++) {
    ob.append(Array.from({ length: 10 }, (_, j) => sampleEnv(i * 10 + j)));
  }
  assert.ok(ob.bytes <= 20_000);
  assert.ok((a.dropped.buffer_full ?? 0) > 0);
  assert.equal(a.dropped.buffer_full, b.dropped.buffer_full);
  const left = seqs(ob.read("a", 10_000)) as number[];
  assert.equal(left.at(-1), 999, "the newest are kept");
  assert.equal(left.length + a.dropped.buffer_full, 1000, "every record is kept or counted");
  ob.close();
});

Deno.test("reject_new refuses new records instead, counted, and keeps the old ones", async () => {
  const { ob } = await openOutbox({ maxBytes: 5_000, onFull: "reject_new" });
  register(ob, "a");
  let refused = 0;
  for (let i = 0; i < 100; i++) {
    try {
      ob.append([sampleEnv(i)]);
    } catch (e) {
      assert.ok(e instanceof OutboxFullError);
      assert.equal(e.reason, "buffer_full");
      refused++;
    }
  }
  assert.ok(refused > 0);
  // Refused, not dropped: the caller holds them (or answers 503); the outbox says it is full.
  assert.equal(ob.status.counters.refused_buffer_full, refused);
  assert.deepEqual(ob.status.dropped, {});
  assert.equal(ob.status.state, "degraded");
  assert.equal((ob.status.info.full as { reason: string }).reason, "buffer_full");
  const rows = ob.read("a", 1000);
  assert.equal((rows[0].envelope.data as Sample).fields.seq, 0);
  // Room returns once the sink delivered: the next append is taken and the state clears.
  ob.ack("a", rows.at(-1)!.id);
  assert.equal(ob.append([sampleEnv(1000)]), 1);
  assert.equal(ob.status.state, "up");
  assert.equal(ob.status.info.full, undefined);
  ob.close();
});

Deno.test("reject_new: an empty outbox takes a hand-over larger than its bound (else it could never go)", async () => {
  const { ob } = await openOutbox({ maxBytes: 2_000, onFull: "reject_new" });
  register(ob, "a");
  const big = Array.from({ length: 100 }, (_, i) => sampleEnv(i));
  assert.equal(ob.append(big), 100);
  assert.throws(() => ob.append([sampleEnv(100)]), OutboxFullError);
  ob.ack("a", ob.read("a", 1000).at(-1)!.id);
  assert.equal(ob.append(big), 100);
  ob.close();
});

Deno.test("records older than max_age are dropped as expired", async () => {
  const clock = new FakeClock();
  const { ob } = await openOutbox({ maxAgeMs: 50, clock });
  const a = register(ob, "a");
  ob.append([sampleEnv(1), sampleEnv(2)]);
  await clock.advance(80);
  ob.append([sampleEnv(3)]);
  assert.equal(ob.depth("a").oldest_age_ms, 80);
  ob.compact();
  assert.equal(a.dropped.expired, 2);
  assert.deepEqual(seqs(ob.read("a", 10)), [3]);
  ob.close();
});

for (
  const [what, damage] of [
    [
      "garbage instead of a database",
      (p: string) => Deno.writeTextFileSync(p, "not a db ".repeat(500)),
    ],
    ["a damaged page", (p: string) => {
      const bytes = Deno.readFileSync(p);
      // A page in the middle of the records.
      const page = 4096 * Math.floor(bytes.length / 4096 / 2);
      bytes.fill(0xa5, page + 8, page + 600);
      Deno.writeFileSync(p, bytes);
    }],
  ] as const
) {
  Deno.test(`a buffer file with ${what} is moved aside and start-up goes on`, async () => {
    const { ob, dir } = await openOutbox();
    register(ob, "a");
    for (let i = 0; i < 50; i++) {
      ob.append(Array.from({ length: 50 }, (_, j) => sampleEnv(i * 50 + j)));
    }
    ob.close();
    damage(`${dir}/outbox.db`);
    const { ob: fresh } = await openOutbox({}, dir);
    const recovered = fresh.status.info.recovered as { moved_to: string } | undefined;
    assert.ok(recovered, "recovery reported in status");
    assert.ok((await Deno.stat(recovered.moved_to)).isFile, "damaged file kept for inspection");
    register(fresh, "a");
    const { salvaged, lost } = recovered as unknown as { salvaged: number; lost: number };
    const back = seqs(fresh.read("a", 5000));
    assert.equal(back.length, salvaged, "every salvaged record goes to the sink");
    if (what === "a damaged page") {
      // Only the rows on the damaged page are gone; they are counted.
      assert.ok(salvaged > 2000, `salvaged ${salvaged}`);
      assert.ok(lost > 0, "the unreadable rows are counted");
      assert.equal(salvaged + lost, 2500);
      assert.equal(fresh.status.dropped.damaged_file, lost);
      assert.deepEqual(back, [...back].sort((a, b) => Number(a) - Number(b)), "in order");
    } else assert.equal(salvaged, 0);
    fresh.append([sampleEnv(9999)]);
    assert.deepEqual(seqs(fresh.read("a", 5000)).slice(-1), [9999]);
    fresh.close();
  });
}

Deno.test("dead-lettered records are kept with the upstream's message", async () => {
  const { ob } = await openOutbox();
  const a = register(ob, "a");
  ob.append([sampleEnv(1), sampleEnv(2)]);
  const rows = ob.readRows("a", 10);
  ob.deadLetter("a", rows, "InfluxDB answered 400: field type conflict");
  ob.ack("a", rows.at(-1)!.id);
  assert.equal(a.counters.dead_lettered, 2);
  assert.equal(
    ob.deadLetters.list({ sink: "a", limit: 1 })[0].error,
    "InfluxDB answered 400: field type conflict",
  );
  assert.equal(ob.read("a", 10).length, 0);
  ob.close();
});

Deno.test("disk full: appends are refused or make room, counted, never a crash", {
  ignore: !canMount,
}, async () => {
  await withTmpfs("1m", async (dir) => {
    const { ob } = await openOutbox({ maxBytes: 100 * 1024 ** 2 }, dir);
    const a = register(ob, "a");
    let refused = 0;
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      try {
        accepted += ob.append(Array.from({ length: 20 }, (_, j) => sampleEnv(i * 20 + j)));
      } catch (e) {
        assert.ok(e instanceof OutboxFullError, String(e));
        refused++;
      }
    }
    const dropped = (a.dropped.disk_full ?? 0) + (ob.status.dropped.disk_full ?? 0) +
      (ob.status.dropped.io_error ?? 0) + (a.dropped.io_error ?? 0);
    assert.ok(dropped > 0 || refused > 0, "the disk filled up and it was counted");
    // Still usable: everything accepted can be read back for delivery.
    const rows = ob.read("a", 100_000);
    assert.ok(accepted > 0);
    assert.ok(rows.length > 0 && rows.length <= accepted);
    assert.equal(rows.length + (a.dropped.disk_full ?? 0), accepted, "kept or counted");
    ob.close();
  });
});

Deno.test("a batch of large records is bounded in bytes; the first record always goes", async () => {
  const { ob } = await openOutbox();
  register(ob, "files", ["file"]);
  const file = (i: number): Envelope => ({
    kind: "file",
    data: {
      node: "cam",
      ts: i,
      key: `cam/${i}`,
      content_type: "image/jpeg",
      body: "x".repeat(400_000),
      expires: 0,
    },
  });
  ob.append([0, 1, 2, 3, 4].map(file));
  const keys = (rows: { envelope: Envelope }[]) =>
    rows.map((r) => (r.envelope.data as { key: string }).key);
  assert.deepEqual(keys(ob.read("files", 50, { maxBytes: 1_000_000 })), ["cam/0", "cam/1"]);
  assert.deepEqual(keys(ob.read("files", 50, { maxBytes: 1000 })), ["cam/0"]);
  assert.equal(ob.read("files", 50).length, 5);
  ob.close();
});

Deno.test("queue depth is kept up to date without COUNT: it equals a fresh COUNT after appends, acks, skips, dead letters and drops", async () => {
  const { ob, dir } = await openOutbox({ maxBytes: 60_000 });
  const sinks: [string, Envelope["kind"][], string[]][] = [
    ["all", ["sample", "event"], []],
    ["mppt", ["sample"], ["mppt*", "bmv[12]"]],
    ["events", ["event"], []],
  ];
  const statuses = sinks.map(([name, kinds, nodes]) => register(ob, name, kinds, nodes));
  const check = new DatabaseSync(`${dir}/outbox.db`, { readOnly: true });
  const truth = (name: string, kinds: string[], nodes: string[]) => {
    const where = nodes.length ? ` AND (${nodes.map(() => "node GLOB ?").join(" OR ")})` : "";
    const r = check.prepare(
      `SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM records WHERE id > (SELECT last_id FROM cursors WHERE sink = ?) AND kind IN (${
        kinds.map((k) => `'${k}'`).join(",")
      })${where}`,
    ).get(name, ...nodes);
    return { records: Number(r?.n), bytes: Number(r?.b) };
  };
  const agree = (when: string) => {
    for (const [name, kinds, nodes] of sinks) {
      const { records, bytes } = ob.depth(name);
      assert.deepEqual({ records, bytes }, truth(name, kinds, nodes), `${name} after ${when}`);
    }
  };
  const nodes = ["mppt1", "mppt22", "bmv1", "bmv3", "Mppt1", "tank"];
  let seq = 0;
  const event = (node: string): Envelope => ({
    kind: "event",
    data: { id: String(seq), type: "t", ts: seq++, node, data: {} },
  });
  for (let round = 0; round < 30; round++) {
    ob.append(Array.from({ length: 20 }, (_, i) => {
      const node = nodes[(round + i) % nodes.length];
      return i % 4 === 0 ? event(node) : sampleEnv(seq++, node);
    }));
    agree(`append ${round}`); // the byte bound also drops the oldest now and then
    const rows = ob.readRows("mppt", 7);
    if (rows.length > 0 && round % 3 === 0) ob.deadLetter("mppt", rows.slice(0, 2), "400");
    if (rows.length > 0) ob.ack("mppt", rows.at(-1)!.id);
    agree(`mppt ack ${round}`);
    const ev = ob.read("events", 3);
    if (ev.length > 0) ob.ack("events", ev.at(-1)!.id);
    if (round % 5 === 0) ob.skipOthers("events"); // nothing new: skips past others' rows
    agree(`events ${round}`);
  }
  assert.ok(ob.depth("all").records > 0);
  assert.ok((statuses[0].dropped.buffer_full ?? 0) > 0, "the byte bound dropped records");
  check.close();
  ob.close();
});

Deno.test("SQLite GLOB patterns match the same nodes in JavaScript", () => {
  const cases: [string, string, boolean][] = [
    ["mppt*", "mppt1", true],
    ["mppt*", "Mppt1", false],
    ["bmv?", "bmv1", true],
    ["bmv?", "bmv12", false],
    ["bmv[12]", "bmv2", true],
    ["bmv[^12]", "bmv2", false],
    ["bmv[^12]", "bmv3", true],
    ["a.b", "axb", false],
    ["a+(b)", "a+(b)", true],
  ];
  const db = new DatabaseSync(":memory:");
  for (const [glob, node, expected] of cases) {
    const sqlite = Number(db.prepare("SELECT ? GLOB ? AS m").get(node, glob)?.m) === 1;
    assert.equal(sqlite, expected, `sqlite ${glob} ${node}`);
    assert.equal(globRegExp([glob]).test(node), expected, `js ${glob} ${node}`);
    // Field filters and rules read globs the same way.
    assert.equal(globMatcher([glob])(node), expected, `matcher ${glob} ${node}`);
  }
  db.close();
});
