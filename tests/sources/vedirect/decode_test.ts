import assert from "node:assert/strict";
import { decodeRecord, RecordAssembler } from "../../../src/sources/vedirect/decode.ts";
import type { DeviceRecord } from "../../../src/sources/vedirect/decode.ts";

const rec = (pairs: [string, string][]) => decodeRecord(new Map(pairs), 0);

Deno.test("raw values become display units", () => {
  const r = rec([
    ["V", "12064"],
    ["I", "-1500"],
    ["SOC", "876"],
    ["CE", "-12345"],
    [
      "H17",
      "4567",
    ],
    ["PPV", "120"],
    ["TTG", "-1"],
    ["DM", "-5"],
  ]);
  assert.deepEqual(r.fields, {
    V: 12.064,
    I: -1.5,
    SOC: 87.6,
    CE: -12.345,
    H17: 45.67,
    PPV: 120,
    TTG: -1,
    DM: -0.5,
  });
});

Deno.test("ON/OFF become booleans and code fields get readable names", () => {
  const r = rec([["LOAD", "ON"], ["Relay", "OFF"], ["CS", "5"], ["ERR", "33"], ["MPPT", "2"], [
    "OR",
    "0x00000011",
  ], ["AR", "5"]]);
  assert.equal(r.fields.LOAD, true);
  assert.equal(r.fields.Relay, false);
  assert.equal(r.fields.CS_text, "Float");
  assert.equal(r.fields.ERR_text, "PV voltage too high");
  assert.equal(r.fields.MPPT_text, "MPP tracker active");
  assert.equal(r.fields.OR, 0x11);
  assert.equal(r.fields.OR_text, "No input power, Protection active");
  assert.equal(r.fields.AR_text, "Low voltage, Low SOC");
});

Deno.test("PIDs name the product; unknown PIDs and labels still work", () => {
  assert.equal(rec([["PID", "0xA053"]]).tags.product, "SmartSolar MPPT 75/15");
  assert.equal(rec([["PID", "0x204"]]).tags.product, "BMV-702");
  assert.equal(rec([["PID", "0xBEEF"]]).tags.product, "unknown 0xBEEF");
  const r = rec([["SER#", "HQ123"], ["FW", "159"], ["NEWLBL", "abc"], ["CS", "99"]]);
  assert.equal(r.tags.serial, "HQ123");
  assert.equal(r.fields.NEWLBL, "abc");
  assert.equal(r.fields.FW, "159");
  assert.equal(r.fields.CS_text, "unknown 99");
});

Deno.test("BMV's two blocks merge into one device record", () => {
  const out: DeviceRecord[] = [];
  const a = new RecordAssembler((r) => out.push(r));
  const first = [["PID", "0x204"], ["V", "12800"], ["SOC", "950"]].flat();
  const second = [["H1", "-1000"], ["H18", "500"]].flat();
  a.add(first, 1000);
  a.add(second, 1010);
  a.add(first, 2000); // PID repeats: the previous record is complete
  assert.equal(out.length, 1);
  assert.equal(out[0].ts, 1000);
  assert.deepEqual(Object.keys(out[0].fields), ["PID", "V", "SOC", "H1", "H18"]);
  a.add(second, 2010);
  a.flush(); // the line went quiet
  assert.equal(out.length, 2);
});

Deno.test("a BMV history half whose PID half was refused is not a record of its own", () => {
  const out: DeviceRecord[] = [];
  let orphans = 0;
  const a = new RecordAssembler((r) => out.push(r), () => orphans++);
  const first = [["PID", "0x204"], ["V", "12800"]].flat();
  const second = [["H1", "-1000"], ["H18", "500"]].flat();
  a.add(first, 1000);
  a.add(second, 1010);
  a.add(second, 2010); // the PID block of this second was refused (checksum)
  a.add(first, 3000);
  a.flush();
  assert.equal(out.length, 2);
  assert.ok(out.every((r) => r.tags.product === "BMV-702"));
  assert.equal(orphans, 1);
  // A device that never names itself (no PID, no BMV) is still read.
  const plain: DeviceRecord[] = [];
  const b = new RecordAssembler((r) => plain.push(r));
  b.add(["V", "12000"], 1);
  b.flush();
  assert.equal(plain.length, 1);
});
