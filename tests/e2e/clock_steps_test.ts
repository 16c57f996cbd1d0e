/**
 * Issue #37's Pi, end to end: the gateway process runs on a wall clock that libfaketime steps
 * (2 days behind at boot, NTP's step forward, then one back of an hour) while its monotonic clock
 * runs on, as a real step leaves it; samples reach the real influxd all along.
 */
import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway.ts";
import { influxQuery, startInfluxd, waitFor } from "../helpers/servers.ts";

/** libfaketime's preload library (Debian's `faketime` package), or null when not installed. */
function libfaketime(): string | null {
  for (const dir of Deno.readDirSync("/usr/lib")) {
    const path = `/usr/lib/${dir.name}/faketime/libfaketime.so.1`;
    try {
      Deno.statSync(path);
      return path;
    } catch { /* not this one */ }
  }
  return null;
}

const lib = libfaketime();

Deno.test({
  name: "the gateway keeps collecting across clock steps both ways and says that the clock stepped",
  ignore: lib === null, // tests/run.sh installs faketime
  fn: async () => {
    const influx = await startInfluxd();
    const dir = await Deno.makeTempDir({ prefix: "clock-e2e-" });
    const offset = `${dir}/faketime`;
    await Deno.writeTextFile(offset, "-2d\n");
    const gw = await startGateway((port, dataDir) =>
      `gateway: {id: pi, data_dir: ${dataDir}}
http: {port: ${port}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 200ms}
sinks:
  lake: {type: influxdb, url: "http://127.0.0.1:${influx.port}", database: solar, create_database: true, max_wait: 100ms}
`, {
      env: {
        LD_PRELOAD: lib!,
        FAKETIME_TIMESTAMP_FILE: offset,
        // Read the offset again every second, so the test steps the running process.
        FAKETIME_CACHE_DURATION: "1",
        // A real step (NTP, date -s) moves CLOCK_REALTIME only; libfaketime would move both.
        FAKETIME_DONT_FAKE_MONOTONIC: "1",
      },
    });
    const times = async () =>
      ((await influxQuery(influx.port, {
        db: "solar",
        q: `SELECT "V" FROM "vedirect" WHERE "node" = 'mppt1'`,
      }))[0]?.values ?? []).map((v) => Number(v[0]));
    // deno-lint-ignore no-explicit-any
    const clock = async () => ((await gw.status()) as any).clock;
    const grows = async (what: string) => {
      const before = (await times()).length;
      await waitFor(async () => (await times()).length >= before + 10, { what });
    };
    try {
      await grows("samples while 2 days behind");
      const behind = Math.max(...await times());

      await Deno.writeTextFile(offset, "+0\n"); // NTP synchronises: two days forward
      await waitFor(async () => (await clock()).steps === 1, { what: "the step forward seen" });
      await grows("samples after the step forward");
      assert.ok(Math.max(...await times()) - behind > 47 * 3_600_000, "stamps followed the clock");

      await Deno.writeTextFile(offset, "-1h\n"); // and steps back an hour
      await waitFor(async () => (await clock()).steps === 2, { what: "the step back seen" });
      const atStep = Math.max(...await times());
      await grows("samples after the step back");
      const all = await times();
      const later = all.filter((t) => t > atStep);
      assert.ok(later.length >= 10, "new samples are stamped after the ones before the step");
      // Spread (the gateway's time runs at half speed), not bunched in the microseconds after.
      assert.ok(
        later.at(-1)! - later[0] >= 9 * 50,
        `${later.length} samples over ${later.at(-1)! - later[0]} ms`,
      );
      const s = await gw.status();
      const c = (s as unknown as { clock: Record<string, unknown> }).clock;
      const last = c.last_step as { by_ms: number; at: string };
      assert.ok(Math.abs(last.by_ms + 3_600_000) < 2000, `last step ${last.by_ms} ms`);
      assert.ok(Number(c.catching_up_ms) > 0);
      // Every sample has its own point: the points counted between two equal delivery counts
      // (samples keep coming, so a count of points taken before /status could be one short).
      let counted = { before: -1, points: -2, after: -3 };
      await waitFor(async () => {
        const before = (await gw.status()).sinks.lake.processed;
        const points = (await times()).length;
        counted = { before, points, after: (await gw.status()).sinks.lake.processed };
        return counted.before === counted.after;
      }, { what: "two equal delivery counts around a count of points" });
      assert.equal(
        counted.points,
        counted.before,
        `every sample has its own point: ${JSON.stringify(counted)}`,
      );
      assert.equal((await gw.health()).code, 200);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /^edge_clock_steps_total 2$/m);
      assert.match(metrics, /^edge_clock_last_step_seconds -3[56]\d\d(\.\d+)?$/m);
    } finally {
      const log = await gw.stop();
      await influx.stop();
      await Deno.remove(dir, { recursive: true });
      // The step is measured between two readings, so it may be a millisecond short or long.
      const stepped = (way: string) =>
        Number(
          log.match(new RegExp(`level=warn .*msg="the clock stepped ${way}" by_ms=(-?\\d+)`))?.[1],
        );
      assert.ok(Math.abs(stepped("forward") - 172_800_000) < 2000, log);
      assert.ok(Math.abs(stepped("back") + 3_600_000) < 2000, log);
    }
  },
});
