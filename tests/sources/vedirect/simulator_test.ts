/** The simulated devices follow the clock they are given, never the hour of the test run. */
import assert from "node:assert/strict";
import { DeviceSimulator } from "../../../src/sources/vedirect/simulator.ts";
import { VeDirectStream } from "../../../src/sources/vedirect/stream.ts";
import type { DeviceRecord } from "../../../src/sources/vedirect/decode.ts";

/** The record a simulated device sends after running a minute up to `at`. */
function recordAt(kind: "mppt" | "bmv", at: number): DeviceRecord {
  const sim = new DeviceSimulator(kind, { seed: 7, hexEvery: 0 });
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
