/** The order of settings requests, against a VE.Direct source on a pty and a simulated device. */
import assert from "node:assert/strict";
import { SettingError, type SettingsAccess } from "../src/device_settings.ts";
import { configureLog } from "../src/log.ts";
import { lineUpSettings } from "../src/settings_line.ts";
import { sourceOnPty } from "./helpers/source_on_pty.ts";

configureLog({ level: "error" });

/** A charger on a pty (silent: it sends frames but never answers HEX), its settings lined up. */
async function charger(options: { silent?: boolean } = {}) {
  const dev = await sourceOnPty("mppt", options);
  const access: SettingsAccess = {
    read: (_node, o) => dev.source.settings.read(o),
    change: (_node, c) => dev.source.settings.change(c.name, c.value),
    refused: () => {},
  };
  return {
    settings: lineUpSettings(access, { maxWaiting: 8 }),
    requests: dev.requests,
    [Symbol.asyncDispose]: () => dev[Symbol.asyncDispose](),
  };
}

const change = (value: unknown) => ({ name: "max_charge_current", value, by: "test" });

Deno.test("changes wait their turn, at most 8 per node; more are refused as busy at once", async () => {
  await using dev = await charger({ silent: true });
  const results = await Promise.allSettled(
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v) => dev.settings.change("mppt", change(v))),
  );
  const reasons = results.map((r) => r.status === "rejected" && (r.reason as SettingError).reason);
  // The device never answers: the 8 in line each time out in turn, the 2 beyond were busy.
  assert.deepEqual(reasons, [...Array(8).fill("timeout"), "busy", "busy"]);
  assert.match((results[9] as PromiseRejectedResult).reason.message, /mppt: 8 setting changes/);
  // One at a time on the line: each change's read went out only after the one before failed.
  assert.equal(dev.requests.length, 8, dev.requests.join(" "));
  // The line is free again once they are done.
  const late = await dev.settings.change("mppt", change(3)).catch((e) => e);
  assert.ok(late instanceof SettingError && late.reason === "timeout");
});

Deno.test("concurrent equal reads share one device read; a read after a change reads again", async () => {
  await using dev = await charger();
  const sent = () => dev.requests.length;
  const answers = await Promise.all(Array.from({ length: 20 }, () => dev.settings.read("mppt")));
  // One read: one HEX get per setting (6), not 120.
  assert.equal(sent(), 6, dev.requests.join(" "));
  assert.ok(answers.every((a) => a === answers[0]));
  // A read under way while a change is made is not joined by a read asked after the change.
  const reading = dev.settings.read("mppt");
  const changed = await dev.settings.change("mppt", change(7));
  const after = await dev.settings.read("mppt");
  assert.notEqual(after, await reading, "the read after the change is a read of its own");
  assert.equal(changed.new, 7);
  assert.equal(after.settings.find((s) => s.name === "max_charge_current")!.value, 7);
});
