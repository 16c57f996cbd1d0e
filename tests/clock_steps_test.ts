/**
 * Samples, windows and retention across wall-clock steps (issue #37), on a fake clock whose wall
 * time steps while its monotonic time runs on: the store, outbox and pipeline are the real ones.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createLogger } from "../src/log.ts";
import { configureLog } from "../src/log.ts";
import type { Window } from "../src/model.ts";
import { Outbox } from "../src/outbox/outbox.ts";
import { Pipeline } from "../src/pipeline.ts";
import { ComponentStatus } from "../src/status.ts";
import { EmbeddedStore } from "../src/store/embedded.ts";
import { FakeClock } from "../src/util/clock.ts";
import { WallClock } from "../src/util/wall_clock.ts";
import { LEVELS, storeOptions } from "./helpers/stores.ts";

configureLog({ level: "error" });

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const GRACE = 10_000;

async function gateway() {
  const dir = await Deno.makeTempDir({ prefix: "clock-steps-" });
  // Two days behind, as a Pi that booted on fake-hwclock's time.
  const base = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 30) - 2 * DAY);
  const clock = new WallClock(base, { synchronized: () => false });
  const store = new EmbeddedStore(
    `${dir}/store.db`,
    storeOptions({
      archiveTtlSeconds: 26 * 3600,
      archiveNow: () => clock.settledNow(26 * HOUR),
    }),
  );
  await store.open();
  const outbox = new Outbox({
    path: `${dir}/outbox.db`,
    maxBytes: 64 * 1024 ** 2,
    maxAgeMs: DAY,
    onFull: "drop_oldest",
    sync: "normal",
    maxDeadLetterBytes: 1024 ** 2,
    log: createLogger("test.outbox"),
    clock,
  });
  outbox.open();
  const lake = new ComponentStatus("lake", "influxdb");
  outbox.register("lake", { kinds: ["sample", "window"], nodes: ["*"], status: lake });
  const pipeline = new Pipeline(store, outbox, createLogger("test.pipeline"), { clock });
  /** One sample a second for `seconds` (the clock is checked each second, as its timer does). */
  async function collect(seconds: number): Promise<void> {
    for (let i = 0; i < seconds; i++) {
      const ts = pipeline.stamps.next("mppt1");
      await pipeline.emit([{ source: "sim", node: "mppt1", ts, fields: { V: 12 + i / 1000 } }]);
      await base.advance(1000);
      clock.check();
    }
  }
  const aggregate = () => pipeline.aggregate(LEVELS, clock.settledNow(GRACE));
  /** What the outbox holds for upstream, in order. */
  function records(kind: string): { ts?: number; start?: number; level?: string }[] {
    const db = new DatabaseSync(`${dir}/outbox.db`, { readOnly: true });
    try {
      return db.prepare("SELECT payload FROM records WHERE kind = ? ORDER BY id").all(kind)
        .map((r) => JSON.parse(String(r.payload)));
    } finally {
      db.close();
    }
  }
  const close = async () => {
    await store.close();
    outbox.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { base, clock, store, outbox, lake, collect, aggregate, records, close };
}

Deno.test("collection goes on across clock steps both ways: stamps increase, windows are neither lost nor doubled", async () => {
  const g = await gateway();
  try {
    await g.collect(90);
    await g.aggregate();
    g.base.step(2 * DAY); // NTP synchronises
    await g.collect(90);
    await g.aggregate();
    const beforeBack = g.clock.now();
    g.base.step(-HOUR); // and later steps back an hour
    await g.collect(240);
    // Close every window: no more samples, time runs on past the last minute and its grace.
    await g.base.advance(3 * 60_000);
    await g.aggregate();

    const json = g.clock.toJSON();
    assert.equal(json.steps, 2);
    assert.equal(json.last_step?.by_ms, -HOUR);
    assert.ok(json.catching_up_ms > 0, "the step back is being absorbed");
    assert.deepEqual(json.before_sync, {
      from: "2025-12-30T12:00:30.000Z",
      // Up to when the step was seen (the second after it: the clock is checked every second).
      to: "2025-12-30T12:02:01.000Z",
      by_ms: 2 * DAY,
    });

    // Every sample went upstream, each stamp later than the one before (so unique too).
    const stamps = g.records("sample").map((r) => r.ts!);
    assert.equal(stamps.length, 90 + 90 + 240);
    for (let i = 1; i < stamps.length; i++) {
      assert.ok(stamps[i] > stamps[i - 1], `stamp ${i} is after stamp ${i - 1}`);
    }
    // After the step back they are spread (half speed), not bunched after the last one.
    const spread = stamps[stamps.length - 1] - stamps[180];
    assert.ok(spread >= 239 * 500 - 1000, `240 samples over ${spread} ms`);

    // The store kept collecting after the step back: at half speed two samples share a second.
    const rows = await g.store.query({ node: "mppt1", from: 0, to: Date.UTC(2100, 0) });
    const after = rows.filter((r) => "ts" in r && r.ts >= Math.floor(beforeBack / 1000) * 1000);
    assert.ok(after.length >= 240 / 2, `${after.length} seconds stored after the step back`);

    // Each stored second is in exactly one 1m window, and each window went upstream once.
    const windows = (await g.store.query({
      node: "mppt1",
      level: "1m",
      from: 0,
      to: Date.UTC(2100, 0),
    })) as Window[];
    const counted = windows.reduce((n, w) => n + w.stats.V.count, 0);
    assert.equal(counted, rows.length, "every stored second is in a window");
    const sent = g.records("window").filter((w) => w.level === "1m").map((w) => w.start);
    assert.equal(new Set(sent).size, sent.length, "no window sent twice");
    assert.deepEqual(sent.sort(), windows.map((w) => w.start).sort());
  } finally {
    await g.close();
  }
});

Deno.test("a forward step of days makes nothing old: the outbox and the windows' archive keep what is young", async () => {
  const g = await gateway();
  try {
    await g.aggregate(); // the first pass starts the windows' sequence
    await g.collect(150);
    await g.base.advance(80_000);
    await g.aggregate();
    const archived = async () =>
      (await g.store.query({ node: "mppt1", level: "1m", from: 0, to: Date.UTC(2100, 0) }))
        .length;
    const windowsBefore = await archived();
    assert.ok(windowsBefore >= 2);
    const held = g.outbox.depth("lake").records;

    g.base.step(2 * DAY); // older than max_age (1 day) and archive_ttl (26 h) by the wall clock
    await g.collect(30);
    await g.base.advance(80_000);
    await g.aggregate();
    g.outbox.compact();
    assert.deepEqual(g.lake.dropped, {}, "nothing expired");
    assert.ok(g.outbox.depth("lake").records >= held + 30);
    assert.ok(await archived() >= windowsBefore, "no archived window deleted");

    // Once they are really a day old, max_age applies again.
    await g.base.advance(DAY);
    g.outbox.compact();
    assert.ok((g.lake.dropped.expired ?? 0) >= held, "then they expire");
  } finally {
    await g.close();
  }
});
