import assert from "node:assert/strict";
import { decodeHex, getRequest } from "../../../src/sources/vedirect/hex.ts";
import {
  decodeDayHistory,
  decodeDayRecord,
  encodeDayHistory,
  HISTORY_TODAY,
} from "../../../src/sources/vedirect/history.ts";
import { VeDirectStream } from "../../../src/sources/vedirect/stream.ts";
import type { DeviceRecord } from "../../../src/sources/vedirect/decode.ts";
import { DeviceSimulator } from "../../../src/sources/vedirect/simulator.ts";

Deno.test("a day history record: voltages in V, stage times in minutes, 0xFFFF not available", () => {
  const bytes = encodeDayHistory({
    vbatMax: 14.42,
    vbatMin: 12.31,
    bulk: 95,
    absorption: 120,
    float: 0,
  });
  assert.equal(bytes.length, 34);
  assert.deepEqual(decodeDayHistory(bytes), {
    H_VBAT_MAX: 14.42,
    H_VBAT_MIN: 12.31,
    H_BULK: 95,
    H_ABSORPTION: 120,
    H_FLOAT: 0,
  });
  bytes[18] = 0xff;
  bytes[19] = 0xff; // bulk unknown
  assert.equal(decodeDayHistory(bytes)!.H_BULK, undefined);
  assert.equal(decodeDayHistory(bytes.subarray(0, 33)), null, "not a day record");
});

Deno.test("the simulated MPPT answers a HEX get of today's history; the BMV says unknown", () => {
  const noon = Date.UTC(2026, 5, 1, 12);
  const mppt = new DeviceSimulator("mppt");
  for (let t = 0; t < 120; t++) mppt.frame(noon + t * 1000);
  const answer = decodeHex(mppt.reply(getRequest(HISTORY_TODAY), noon)!.trim().slice(1));
  assert.ok(!("error" in answer));
  assert.equal(answer.register, HISTORY_TODAY);
  const day = decodeDayHistory(answer.payload.subarray(3))!;
  assert.ok(day.H_VBAT_MAX! >= day.H_VBAT_MIN! && day.H_VBAT_MIN! > 10, JSON.stringify(day));
  assert.ok(day.H_BULK! + day.H_ABSORPTION! >= 1, "two minutes of sun were spent charging");
  const bmv = new DeviceSimulator("bmv");
  const refused = decodeHex(bmv.reply(getRequest(HISTORY_TODAY), noon)!.trim().slice(1));
  assert.ok(!("error" in refused) && refused.flags === 1, "unknown id");
});

Deno.test("the simulated MPPT tells one story: yesterday in its fields is its day record, its battery type its voltages", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const at = Date.UTC(2026, 5, 1 + seed, 9);
    const mppt = new DeviceSimulator("mppt", { seed, hexEvery: 0 });
    const records: DeviceRecord[] = [];
    const stream = new VeDirectStream({ onRecord: (r) => records.push(r) });
    stream.idle();
    stream.push(mppt.frame(at), at);
    stream.idle();
    const fields = records[0].fields;
    const get = (register: number) => {
      const msg = decodeHex(mppt.reply(getRequest(register), at)!.trim().slice(1));
      assert.ok(!("error" in msg));
      return msg;
    };
    const yesterday = decodeDayRecord(get(HISTORY_TODAY + 1).payload.subarray(3))!;
    assert.equal(fields.H22, yesterday.yield_kwh, `seed ${seed}: yield yesterday`);
    assert.equal(fields.H23, yesterday.max_power_w, `seed ${seed}: max power yesterday`);
    // A 75/15 on 12 V: 15 A at most into ~14.4 V.
    assert.ok((fields.H23 as number) <= 15 * 14.4, `seed ${seed}: ${fields.H23} W`);
    assert.ok((yesterday.vbat_max ?? 0) <= 14.4, "never above its absorption voltage");
  }
  const mppt = new DeviceSimulator("mppt");
  const value = (register: number) => {
    const msg = decodeHex(mppt.reply(getRequest(register), 0)!.trim().slice(1));
    return !("error" in msg) ? msg.value : undefined;
  };
  // Battery type 3 is Victron's 14.4 V preset (13.8 V float): what its voltages say.
  assert.equal(value(0xedf1), 3);
  assert.equal(value(0xedf7), 1440);
  assert.equal(value(0xedf6), 1380);
});
