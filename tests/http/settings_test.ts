/** The settings API on a running gateway: read, change with the token, audited, errors mapped. */
import assert from "node:assert/strict";
import { configureLog } from "../../src/log.ts";
import { waitFor } from "../helpers/servers.ts";
import { startSettingsGateway } from "../helpers/settings_gateway.ts";

configureLog({ level: "error" });

const TOKEN = "settings-t0ken";

Deno.test("GET/PUT /devices/<node>/settings: read, change with the token, an audit event at the events sink", async () => {
  await using gw = await startSettingsGateway(
    `  mppt1: {type: vedirect, simulate: mppt, interval: 50ms, writable: [load_output, max_charge_current]}
  bmv1: {type: vedirect, simulate: bmv, interval: 50ms}`,
    { token: TOKEN, http: "max_body: 2KiB" },
  );
  const { url, events, put } = gw;
  const read = await (await fetch(`${url}/devices/mppt1/settings`)).json();
  assert.equal(read.product, "SmartSolar MPPT 75/15");
  assert.equal(read.settings.length, 6);
  assert.equal(
    read.settings.find((s: { name: string }) => s.name === "load_output").value,
    "automatic (BatteryLife)",
  );

  assert.equal(
    (await put("/devices/mppt1/settings/load_output", { value: "off" }, null)).status,
    401,
  );
  assert.equal(
    (await put("/devices/mppt1/settings/load_output", { value: "off" }, "wrong")).status,
    401,
  );

  // Cutting the load: without "confirm" a dry run (409) that says what it would do.
  const dry = await put("/devices/mppt1/settings/load_output", { value: "off" });
  assert.equal(dry.status, 409, JSON.stringify(dry.body));
  assert.equal(dry.body.confirm_required, true);
  assert.equal(dry.body.reason, "confirm_required");
  assert.match(dry.body.effect, /load output off: whatever is connected to it loses power/);
  const ok = await put("/devices/mppt1/settings/load_output", { value: "off", confirm: true });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body, {
    node: "mppt1",
    setting: "load_output",
    register: "0xEDAB",
    old: "automatic (BatteryLife)",
    new: "off",
    requested: "off",
    outcome: "applied",
  });
  // The next frames say so, in /status as on the line.
  await waitFor(async () => {
    const status = await (await fetch(`${url}/status`)).json();
    return status.sources.mppt1.device.values.LOAD === false;
  }, { what: "LOAD off in /status" });

  await waitFor(() => events.some((e) => JSON.stringify(e).includes("setting_changed")), {
    what: "the audit event at the webhook",
  });
  const audit = JSON.stringify(events);
  assert.match(audit, /"setting":"load_output"/);
  assert.match(audit, /"old":"automatic \(BatteryLife\)"/);
  assert.match(audit, /"new":"off"/);
  assert.match(audit, /http token \(settings-test\)/);
  assert.doesNotMatch(audit, /settings-t0ken/);

  const cases: [string, unknown, number, string][] = [
    ["/devices/mppt1/settings/max_charge_current", { value: 40 }, 422, "unsafe_value"],
    ["/devices/mppt1/settings/max_charge_current", { value: "forty" }, 400, "invalid_value"],
    ["/devices/mppt1/settings/absorption_voltage", { value: 14 }, 403, "not_writable"],
    ["/devices/mppt1/settings/no_such", { value: 1 }, 404, "unknown_setting"],
    ["/devices/nope/settings/load_output", { value: "on" }, 404, "unknown_node"],
    ["/devices/mppt1/settings/load_output", { value: { on: true } }, 400, "invalid_value"],
    ["/devices/mppt1/settings/load_output", { value: "on", extra: 1 }, 400, "invalid_value"],
  ];
  for (const [path, body, status, reason] of cases) {
    const res = await put(path, body);
    assert.equal(res.status, status, `${path} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.reason, reason, path);
  }
  // Every attempt that reached the device's settings and changed nothing is one audit event
  // saying why: the dry run and five of the cases (malformed bodies never get that far).
  await waitFor(
    () => events.filter((e) => e.type === "setting_refused").length >= 6,
    { what: "the refusals audited" },
  );
  const refusals = events.filter((e) => e.type === "setting_refused");
  assert.equal(refusals.length, 6, JSON.stringify(refusals));
  assert.match(JSON.stringify(refusals[0]), /"reason":"confirm_required"/);
  assert.match(
    JSON.stringify(refusals),
    /"setting":"max_charge_current","old":[^,]*,"new":40,.*"reason":"unsafe_value"/,
  );
  // A monitor: its own settings; a charger's name is unknown there.
  const bmv = await put("/devices/bmv1/settings/battery_capacity", { value: 300 });
  assert.equal(bmv.status, 200);
  assert.equal(bmv.body.old, 200);
  assert.equal((await put("/devices/bmv1/settings/load_output", { value: "on" })).status, 404);
  // Bodies are size-limited.
  const big = await put("/devices/mppt1/settings/load_output", { value: "x".repeat(5000) });
  assert.equal(big.status, 413);
});

Deno.test("concurrent PUTs to one setting run one at a time: each audit event's old is the previous one's new", async () => {
  await using gw = await startSettingsGateway(
    "  mppt1: {type: vedirect, simulate: mppt, interval: 50ms, writable: [max_charge_current]}",
    { token: TOKEN },
  );
  const { url, events } = gw;
  const put = (value: number) => gw.put("/devices/mppt1/settings/max_charge_current", { value });
  const read = async () =>
    (await (await fetch(`${url}/devices/mppt1/settings`)).json()).settings
      .find((s: { name: string }) => s.name === "max_charge_current").value;
  const initial = await read();
  const values = [10, 11, 12, 13, 14, 9];
  const answers = await Promise.all(values.map(put));
  for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
  await waitFor(
    () => events.filter((e) => e.type === "setting_changed").length === values.length,
    {
      what: "every change's audit event",
    },
  );
  const audit = events.filter((e) => e.type === "setting_changed");
  let previous = initial;
  for (const e of audit) {
    assert.equal(e.old, previous, JSON.stringify(audit));
    previous = e.new;
  }
  assert.equal(await read(), previous, "the device holds the last audited value");
  // What each caller was told matches the audit: the same chain, nothing twice.
  const told = answers.map((a) => `${a.body.old}->${a.body.new}`).sort();
  assert.deepEqual(told, audit.map((e) => `${e.old}->${e.new}`).sort());
});
