/** The simulated devices follow the clock they are given, never the hour of the test run. */
import assert from "node:assert/strict";
import { DeviceSimulator } from "../../../src/sources/vedirect/simulator.ts";
import { VeDirectStream } from "../../../src/sources/vedirect/stream.ts";
import type { DeviceRecord } from "../../../src/sources/vedirect/decode.ts";

/** The record a simulated device sends after running a minute up to `at`. */
function recordAt(kind: "mppt" | "bmv", at: number, timeZone = "UTC"): DeviceRecord {
  const sim = new DeviceSimulator(kind, { seed: 7, hexEvery: 0, timeZone });
  const records: DeviceRecord[] = [];
  const stream = new VeDirectStream({ onRecord: (r) => records.push(r) });
  stream.idle();
  for (let t = at - 60_000; t <= at; t += 1000) {
    stream.push(sim.frame(t), t);
    stream.idle();
  }
  return records[records.length - 1];
}

const NIGHT = Date.UTC(2026, 0, 15, 2);
const NOON = Date.UTC(2026, 0, 15, 12);

Deno.test("at night the simulated BMV discharges: a finite time-to-go", () => {
  const r = recordAt("bmv", NIGHT);
  assert.ok((r.fields.I as number) < 0, `current ${r.fields.I}`);
  assert.ok((r.fields.TTG as number) > 0, `TTG ${r.fields.TTG}`);
});

Deno.test("at noon the simulated BMV charges: TTG -1 (infinite)", () => {
  const r = recordAt("bmv", NOON);
  assert.ok((r.fields.I as number) > 0, `current ${r.fields.I}`);
  assert.equal(r.fields.TTG, -1);
});

Deno.test("the simulated MPPT makes power at noon and none at night", () => {
  assert.ok((recordAt("mppt", NOON).fields.PPV as number) > 100);
  assert.equal(recordAt("mppt", NIGHT).fields.PPV, 0);
});

Deno.test("simulated devices of one kind with other seeds report other serial numbers", () => {
  const serial = (seed: number) => {
    const text = new TextDecoder().decode(new DeviceSimulator("mppt", { seed }).frame(NOON));
    return /SER#\t(\S+)/.exec(text)?.[1];
  };
  assert.equal(serial(1), "HQ2132ABCDE");
  assert.equal(new Set([1, 2, 3, 4].map(serial)).size, 4);
  assert.equal(serial(2), serial(2));
});

Deno.test("the simulated sun follows the site's time zone: noon in Tokyo is night in Los Angeles", () => {
  // 03:00 UTC: 12:00 in Tokyo (UTC+9), 20:00 the day before in Los Angeles (UTC-7 in June).
  const at = Date.UTC(2026, 5, 21, 3);
  assert.ok((recordAt("mppt", at, "Asia/Tokyo").fields.PPV as number) > 100);
  assert.equal(recordAt("mppt", at, "America/Los_Angeles").fields.PPV, 0);
  assert.equal(recordAt("mppt", at, "UTC").fields.PPV, 0, "03:00 UTC is night in UTC");
  // 19:00 UTC: noon in Los Angeles, 04:00 the next morning in Tokyo.
  const later = Date.UTC(2026, 5, 21, 19);
  assert.ok((recordAt("mppt", later, "America/Los_Angeles").fields.PPV as number) > 100);
  assert.equal(recordAt("mppt", later, "Asia/Tokyo").fields.PPV, 0);
});

Deno.test("the simulated charger's day (HSDS, today's yield) starts at the site's midnight", () => {
  const sim = new DeviceSimulator("mppt", { hexEvery: 0, timeZone: "Asia/Kolkata" });
  const text = (t: number) => new TextDecoder().decode(sim.frame(t));
  const hsds = (t: number) => Number(/HSDS\t(\d+)/.exec(text(t))![1]);
  // Kolkata is UTC+5:30: its midnight is 18:30 UTC.
  const before = hsds(Date.UTC(2026, 5, 21, 18, 29));
  assert.equal(hsds(Date.UTC(2026, 5, 21, 18, 31)), before + 1);
});
