/** The charger settings' rules on their own: ranges per battery type and system voltage. */
import assert from "node:assert/strict";
import { effectOf, safeRange, unsafeChange } from "../../src/victron/setting_rules.ts";

const at = (nominalVolts: number) => ({ nominalVolts });

Deno.test("a 12 V table scales with the system voltage: 24 V and 48 V ranges", () => {
  assert.deepEqual(safeRange("float_voltage", 2, 12), [13.2, 13.8]);
  assert.deepEqual(safeRange("float_voltage", 2, 24), [26.4, 27.6]);
  assert.deepEqual(safeRange("absorption_voltage", 8, 48), [55.2, 58.4]);
  assert.deepEqual(safeRange("absorption_voltage", undefined, 12), [13, 15.5], "unknown: user");
  assert.equal(safeRange("max_charge_current", 2, 12), null);
  const state = { batteryType: 8, absorption: 28.4, float: 27 };
  assert.equal(unsafeChange("float_voltage", 27.2, { state, limits: at(24) }), null);
  assert.match(
    unsafeChange("float_voltage", 13.5, { state, limits: at(24) })!,
    /13\.5 V is outside 26\.6\.\.27\.6 V, the safe float range for type 8 \(LiFePO4\) on a 24 V system/,
  );
});

Deno.test("absorption stays between float and equalisation", () => {
  const state = { batteryType: 255, absorption: 14.4, float: 13.8, equalisation: 15 };
  const limits = at(12);
  assert.match(unsafeChange("absorption_voltage", 15.2, { state, limits })!, /equalisation/);
  assert.match(unsafeChange("absorption_voltage", 13.6, { state, limits })!, /below float/);
  assert.equal(unsafeChange("absorption_voltage", 14.8, { state, limits }), null);
  assert.match(
    unsafeChange("float_voltage", 14, { state: { ...state, absorption: 13.9 }, limits })!,
    /above absorption/,
  );
});

Deno.test("a battery type change that would leave float above absorption is refused", () => {
  const limits = { nominalVolts: 12, typeName: (r: number) => `type ${r}` };
  const state = { batteryType: 255, absorption: 13.9, float: 14 };
  assert.match(
    unsafeChange("battery_type", 2, { state, limits })!,
    /absorption is 13\.9 V \(type 2 takes 14\.1\.\.14\.8 V\), float is 14 V .*float \(14 V\) is above absorption \(13\.9 V\)/,
  );
  assert.equal(
    unsafeChange("battery_type", 2, { state: { absorption: 14.4, float: 13.8 }, limits }),
    null,
  );
});

Deno.test("what stops charging or cuts a load is named; the rest needs no confirmation", () => {
  assert.match(effectOf("device_mode", 4)!, /stops charging/);
  assert.match(effectOf("load_output", 0)!, /loses power/);
  assert.match(effectOf("max_charge_current", 0)!, /Stops charging/);
  assert.equal(effectOf("device_mode", 1), null);
  assert.equal(effectOf("load_output", 1), null);
  assert.equal(effectOf("max_charge_current", 5), null);
});
