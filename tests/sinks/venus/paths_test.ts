import assert from "node:assert/strict";
import { defaultInstance, venusValues } from "../../../src/sinks/venus/paths.ts";

Deno.test("an MPPT record maps to solarcharger paths in Venus units", () => {
  const m = venusValues({
    source: "s",
    node: "mppt1",
    ts: 0,
    fields: {
      V: 13.2,
      I: 4.1,
      VPV: 36.5,
      PPV: 57,
      CS: 3,
      ERR: 0,
      MPPT: 2,
      LOAD: true,
      IL: 0.3,
      H19: 102.3,
      H20: 0.4,
      H21: 120,
      OR: 0,
    },
    tags: { pid: "0xA053", product: "SmartSolar MPPT 75/15", serial: "HQ1", firmware: "159" },
  })!;
  assert.equal(m.service, "solarcharger");
  assert.equal(m.values["/Pv/V"], 36.5);
  assert.equal(m.values["/Yield/Power"], 57);
  assert.equal(m.values["/Dc/0/Voltage"], 13.2);
  assert.equal(m.values["/Dc/0/Current"], 4.1);
  assert.equal(m.values["/State"], 3);
  assert.equal(m.values["/MppOperationMode"], 2);
  assert.equal(m.values["/Load/State"], 1);
  assert.equal(m.values["/History/Daily/0/Yield"], 0.4);
  assert.equal(m.values["/Yield/User"], 102.3);
  assert.equal(m.values["/ProductId"], 0xa053);
  assert.equal(m.values["/ProductName"], "SmartSolar MPPT 75/15");
  assert.equal(m.values["/Serial"], "HQ1");
  assert.equal(m.values["/Connected"], 1);
});

Deno.test("a BMV record maps to battery paths: TTG in seconds, alarms from AR bits", () => {
  const m = venusValues({
    source: "s",
    node: "bmv1",
    ts: 0,
    fields: {
      V: 12.9,
      VS: 12.7,
      I: -3.2,
      P: -41,
      CE: -12.3,
      SOC: 87.5,
      TTG: 120,
      AR: 5,
      Relay: false,
      H1: -100,
      H17: 456.78,
    },
  })!;
  assert.equal(m.service, "battery");
  assert.equal(m.values["/Soc"], 87.5);
  assert.equal(m.values["/ConsumedAmphours"], -12.3);
  assert.equal(m.values["/TimeToGo"], 7200);
  assert.equal(m.values["/Dc/1/Voltage"], 12.7);
  assert.equal(m.values["/Alarms/LowVoltage"], 2);
  assert.equal(m.values["/Alarms/LowSoc"], 2);
  assert.equal(m.values["/Alarms/HighVoltage"], 0);
  assert.equal(m.values["/Relay/0/State"], 0);
  assert.equal(m.values["/History/DeepestDischarge"], -100);
  assert.equal(m.values["/History/DischargedEnergy"], 456.78);
  const infinite = venusValues({ source: "s", node: "b", ts: 0, fields: { SOC: 100, TTG: -1 } })!;
  assert.equal(infinite.values["/TimeToGo"], null);
});

Deno.test("device instances are stable per node", () => {
  assert.equal(defaultInstance("mppt1"), defaultInstance("mppt1"));
  assert.ok(defaultInstance("mppt1") >= 288 && defaultInstance("mppt1") < 388);
});
