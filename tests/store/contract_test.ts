/**
 * One contract, two stores: the embedded store and the Redis store (real
 * redis-server) must store the same series and compute the same windows.
 */
import assert from "node:assert/strict";
import { configureLog } from "../../src/log.ts";
import type { Sample, Window } from "../../src/model.ts";
import type { SeriesPoint, Store } from "../../src/store/store.ts";
import { embeddedFactory, LEVELS, redisFactory, type StoreFactory } from "../helpers/stores.ts";
import { startRedis } from "../helpers/servers.ts";

configureLog({ level: "error" });

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const [L1M] = LEVELS;
const GRACE = 10_000;
// Trimming is tested on a minute no window step looks at (max_rows < window is refused in config).
const N3 = T0 + 40 * 60_000;

function sample(node: string, ms: number, fields: Sample["fields"]): Sample {
  return { source: "test", node, ts: ms, fields };
}

async function put(store: Store, samples: Sample[]) {
  await store.write(samples);
  await store.flush();
}

/** Runs the aggregation as the scheduler does, once per minute boundary up to `untilMs`. */
async function tick(store: Store, fromMs: number, untilMs: number) {
  for (let t = fromMs; t <= untilMs; t += 60_000) {
    for (const level of LEVELS) {
      for (let more = true; more;) more = (await store.aggregate(level, t)).more;
    }
  }
}

async function drain(store: Store): Promise<Window[]> {
  const w = await store.pendingWindows(10_000);
  await store.ackWindows(w.length);
  return w;
}

const afterClose = (minute: number) => T0 + minute * 60_000 + GRACE + 1000;

/** The contract; returns everything observable so both stores can be compared. */
async function contract(t: Deno.TestContext, make: StoreFactory): Promise<unknown[]> {
  const seen: unknown[] = [];

  await t.step("stores a series and reads it back in SI values", async () => {
    const s = await make();
    const input = Array.from(
      { length: 60 },
      (_, i) =>
        sample("n1", T0 + i * 1000 + 250, {
          V: 12 + i / 1000,
          I: -1.5,
          LOAD: true,
          CS_text: "Bulk",
        }),
    );
    await put(s, input);
    const points = await s.query({ node: "n1", from: T0, to: T0 + 60_000 }) as SeriesPoint[];
    assert.equal(points.length, 60);
    assert.equal(points[0].ts, T0);
    // ON/OFF labels are kept as 1/0, as vemonitor_m8 keeps them.
    assert.deepEqual(points[3].fields, { V: 12.003, I: -1.5, LOAD: 1, CS_text: "Bulk" });
    assert.deepEqual(await s.nodes(), ["n1"]);
    seen.push(points);
    await s.close();
  });

  await t.step("two samples in one second merge, later keys win", async () => {
    const s = await make();
    await put(s, [sample("n2", T0 + 100, { V: 1, I: 1 })]);
    await put(s, [sample("n2", T0 + 700, { V: 2, P: 5 })]);
    await put(s, [sample("n2", T0 + 800, { X: "x" }), sample("n2", T0 + 900, { X: "y" })]);
    const points = await s.query({ node: "n2", from: T0, to: T0 + 1000 }) as SeriesPoint[];
    assert.deepEqual(points, [{ ts: T0, fields: { V: 2, I: 1, P: 5, X: "y" } }]);
    seen.push(points);
    await s.close();
  });

  await t.step("keeps at most max_rows seconds per node, dropping the oldest", async () => {
    const s = await make({ maxRows: 10 });
    for (let i = 0; i < 25; i += 5) {
      await put(
        s,
        Array.from({ length: 5 }, (_, j) => sample("n3", N3 + (i + j) * 1000, { V: i + j })),
      );
    }
    const points = await s.query({ node: "n3", from: N3, to: N3 + 60_000 }) as SeriesPoint[];
    assert.deepEqual(points.map((p) => p.fields.V), [15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    await s.close();
  });

  await t.step(
    "aggregates a closed window once: count, min, max, sum, avg; text ignored",
    async () => {
      const s = await make();
      await drain(s);
      // n1 already holds minute 0 (V = 12.000 .. 12.059).
      assert.equal((await s.aggregate(L1M, T0 + 60_000 + GRACE - 1000)).windows, 0);
      const r = await s.aggregate(L1M, afterClose(1));
      assert.equal(r.windows, 2); // n1 and n2 have data in minute 0
      assert.equal((await s.aggregate(L1M, afterClose(1))).windows, 0);
      const windows = await drain(s);
      const n1 = windows.find((w) => w.node === "n1")!;
      assert.equal(n1.start, T0);
      assert.equal(n1.end, T0 + 60_000);
      // LOAD (on/off, kept as 1/0) is aggregated too: its avg is the share of time it was on.
      assert.deepEqual(Object.keys(n1.stats).sort(), ["I", "LOAD", "V"]);
      assert.equal(n1.stats.LOAD.avg, 1);
      assert.equal(n1.stats.V.count, 60);
      assert.equal(n1.stats.V.min, 12);
      assert.equal(n1.stats.V.max, 12.059);
      assert.equal(n1.stats.V.sum, 721.77);
      assert.equal(n1.stats.V.avg, 12.0295);
      assert.deepEqual(n1.stats.I, { count: 60, min: -1.5, max: -1.5, sum: -90, avg: -1.5 });
      seen.push(windows.sort((a, b) => a.node.localeCompare(b.node)));
      const q = await s.query({ node: "n1", from: T0, to: T0 + 120_000, level: "1m" }) as Window[];
      assert.equal(q.length, 1);
      assert.equal(q[0].stats.V.sum, 721.77);
      await s.close();
    },
  );

  await t.step(
    "late data inside the grace period counts; after the window closed it does not",
    async () => {
      const s = await make();
      await put(s, [sample("late", T0 + 60_000 + 30_000, { V: 1 })]);
      await s.aggregate(L1M, T0 + 120_000 + GRACE - 2000); // minute 1 not closable yet
      await put(s, [sample("late", T0 + 119_500, { V: 3 })]); // late, inside grace
      await s.aggregate(L1M, afterClose(2));
      await put(s, [sample("late", T0 + 100_000, { V: 100 })]); // too late: window done
      await s.aggregate(L1M, afterClose(2) + 5000);
      const w = (await drain(s)).filter((x) => x.node === "late");
      assert.equal(w.length, 1);
      assert.deepEqual(w[0].stats.V, { count: 2, min: 1, max: 3, sum: 4, avg: 2 });
      const raw = await s.query({ node: "late", from: T0, to: T0 + 180_000 }) as SeriesPoint[];
      assert.equal(raw.length, 3); // the late sample is still stored raw
      seen.push(w);
      await s.close();
    },
  );

  await t.step(
    "gaps give no window; a restart mid-window neither loses nor double-counts",
    async () => {
      let s = await make();
      await put(
        s,
        Array.from({ length: 30 }, (_, i) => sample("gap", T0 + 180_000 + i * 1000, { V: i })),
      );
      await s.aggregate(L1M, T0 + 180_000 + 40_000); // minute 3 still open
      await s.close();
      s = await make(); // restart
      await put(
        s,
        Array.from({ length: 30 }, (_, i) => sample("gap", T0 + 210_000 + i * 1000, { V: 30 + i })),
      );
      // minute 4 has no data; minute 5 has one point
      await put(s, [sample("gap", T0 + 300_000, { V: 7 })]);
      await tick(s, afterClose(4), afterClose(6));
      await s.close();
      s = await make(); // restart after the windows were computed
      await tick(s, afterClose(6), afterClose(6));
      const w = (await drain(s)).filter((x) => x.node === "gap" && x.level === "1m");
      assert.deepEqual(w.map((x) => (x.start - T0) / 60_000), [3, 5]);
      assert.equal(w[0].stats.V.count, 60);
      assert.equal(w[0].stats.V.sum, 1770);
      seen.push(w);
      await s.close();
    },
  );

  await t.step("5m rolls up exactly its five 1m windows", async () => {
    const s = await make();
    const base = T0 + 600_000; // 00:10, a 5-minute boundary
    await put(
      s,
      Array.from({ length: 300 }, (_, i) => sample("roll", base + i * 1000, { V: i / 10 })),
    );
    await put(s, [sample("roll", base + 300_000, { V: 999 })]); // next 5m window: excluded
    await tick(s, afterClose(7), afterClose(16));
    const all = (await drain(s)).filter((x) => x.node === "roll");
    const five = all.filter((x) => x.level === "5m");
    assert.equal(all.filter((x) => x.level === "1m").length, 6);
    assert.equal(five.length, 1);
    assert.equal(five[0].start, base);
    assert.deepEqual(five[0].stats.V, { count: 300, min: 0, max: 29.9, sum: 4485, avg: 14.95 });
    seen.push(all);
    await s.close();
  });

  await t.step("rewritten and out-of-order seconds still aggregate exactly", async () => {
    const s = await make();
    const base = T0 + 20 * 60_000;
    await put(s, Array.from({ length: 30 }, (_, i) => sample("ooo", base + i * 1000, { V: 1 })));
    // Seconds 10..19 again (merge: later keys win), then the rest of the minute.
    await put(
      s,
      Array.from({ length: 10 }, (_, i) => sample("ooo", base + (10 + i) * 1000, { V: 3 })),
    );
    await put(
      s,
      Array.from({ length: 30 }, (_, i) => sample("ooo", base + (30 + i) * 1000, { V: 2 })),
    );
    await tick(s, afterClose(21), afterClose(21));
    const w = (await drain(s)).filter((x) => x.node === "ooo" && x.level === "1m");
    assert.equal(w.length, 1);
    assert.deepEqual(w[0].stats.V, { count: 60, min: 1, max: 3, sum: 110, avg: 1.8333333333333 });
    seen.push(w);
    await s.close();
  });

  await t.step("catch-up after downtime is bounded per call and complete overall", async () => {
    const s = await make({ maxWindowsPerCall: 2 });
    const base = T0 + 3_600_000;
    for (let m = 0; m < 6; m++) await put(s, [sample("cu", base + m * 60_000 + 5000, { V: m })]);
    await tick(s, base + 60_000 + GRACE + 1000, base + 60_000 + GRACE + 1000);
    const first = await s.aggregate(L1M, base + 7 * 60_000 + GRACE);
    assert.equal(first.more, true);
    await tick(s, base + 7 * 60_000 + GRACE, base + 7 * 60_000 + GRACE);
    const w = (await drain(s)).filter((x) => x.node === "cu" && x.level === "1m");
    assert.deepEqual(w.map((x) => x.stats.V.sum), [0, 1, 2, 3, 4, 5]);
    await s.close();
  });

  await t.step(
    "percentiles: exact over a window's seconds; a rollup approximate once trimmed",
    async () => {
      const pct = (values: number[], q: number) => {
        const v = [...values].sort((a, b) => a - b);
        const rank = (q / 100) * (v.length - 1);
        const lo = Math.floor(rank);
        return Number((v[lo] + (v[Math.ceil(rank)] - v[lo]) * (rank - lo)).toPrecision(14));
      };
      const value = (i: number) => ((i * 7919) % 300) / 10; // a permutation: order must not matter
      let s = await make({ percentiles: [50, 90] });
      const base = T0 + 70 * 60_000; // 01:10, a 5-minute boundary
      await put(
        s,
        Array.from({ length: 300 }, (_, i) => sample("pc", base + i * 1000, { V: value(i) })),
      );
      await tick(s, base + 5 * 60_000 + GRACE + 1000, base + 5 * 60_000 + GRACE + 1000);
      let all = (await drain(s)).filter((x) => x.node === "pc");
      const ones = all.filter((x) => x.level === "1m");
      assert.equal(ones.length, 5);
      for (const [m, w] of ones.entries()) {
        const v = Array.from({ length: 60 }, (_, i) => value(m * 60 + i));
        assert.equal(w.stats.V.p50, pct(v, 50));
        assert.equal(w.stats.V.p90, pct(v, 90));
        assert.equal(w.stats.V.approx, undefined);
      }
      const five = all.find((x) => x.level === "5m")!;
      const every = Array.from({ length: 300 }, (_, i) => value(i));
      assert.deepEqual([five.stats.V.p50, five.stats.V.p90, five.stats.V.approx], [
        pct(every, 50),
        pct(every, 90),
        undefined,
      ]);
      seen.push(all);
      await s.close();

      // Only 100 seconds kept: the 5-minute window's raw seconds are gone by the time it closes.
      s = await make({ percentiles: [50, 90], maxRows: 100 });
      const b2 = base + 10 * 60_000;
      for (let m = 0; m < 5; m++) {
        await put(
          s,
          Array.from(
            { length: 60 },
            (_, i) => sample("pt", b2 + (m * 60 + i) * 1000, { V: value(m * 60 + i) }),
          ),
        );
        await tick(s, b2 + (m + 1) * 60_000 + GRACE + 1000, b2 + (m + 1) * 60_000 + GRACE + 1000);
      }
      all = (await drain(s)).filter((x) => x.node === "pt");
      const minutes = all.filter((x) => x.level === "1m");
      const rolled = all.find((x) => x.level === "5m")!;
      assert.equal(minutes.length, 5);
      assert.equal(rolled.stats.V.count, 300);
      assert.equal(rolled.stats.V.approx, true);
      const mean = minutes.reduce((a, w) => a + w.stats.V.p50 * 60, 0) / 300;
      assert.equal(rolled.stats.V.p50, Number(mean.toPrecision(14)));
      seen.push(all);
      await s.close();
    },
  );

  await t.step(
    "a window state over a day ahead of the clock starts again at the clock",
    async () => {
      const s = await make();
      await drain(s);
      const ahead = T0 + 3 * 86_400_000;
      await tick(s, ahead, ahead); // aggregated while the clock was three days ahead
      const back = T0 + 2 * 3_600_000; // then the clock was followed back (src/util/wall_clock.ts)
      await put(s, [sample("bk", back + 5000, { V: 1 }), sample("bk", back + 65_000, { V: 2 })]);
      await tick(s, back + 60_000 + GRACE + 1000, back + 2 * 60_000 + GRACE + 1000);
      const w = (await drain(s)).filter((x) => x.node === "bk" && x.level === "1m");
      assert.deepEqual(w.map((x) => [x.start, x.stats.V.sum]), [[back, 1], [back + 60_000, 2]]);
      seen.push(w);
      await s.close();
    },
  );

  return seen;
}

Deno.test("store contract: embedded and Redis behave the same", async (t) => {
  const redis = await startRedis();
  try {
    let embedded: unknown[] = [];
    let onRedis: unknown[] = [];
    await t.step("embedded (node:sqlite)", async (t) => {
      embedded = await contract(t, await embeddedFactory());
    });
    await t.step("redis (HmapTimeSeries + Lua)", async (t) => {
      onRedis = await contract(t, redisFactory(redis.port, "contract"));
    });
    await t.step("same stored series and windows", () => {
      assert.deepEqual(onRedis, embedded);
    });
  } finally {
    await redis.stop();
  }
});
