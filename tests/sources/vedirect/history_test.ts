import assert from "node:assert/strict";
import { decodeHex, getRequest } from "../../../src/sources/vedirect/hex.ts";
import {
  decodeDayHistory,
  encodeDayHistory,
  HISTORY_TODAY,
} from "../../../src/sources/vedirect/history.ts";
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
