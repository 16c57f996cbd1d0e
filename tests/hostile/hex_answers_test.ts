/**
 * Issue #38, item 8: HEX answers that lie. A charger on a pty answers a Set late, with a bad
 * checksum, with a value of its own (clamped), refuses it, or goes deaf: the API answer and the
 * one audit event per change say what the device holds (read back), never only what was asked.
 */
import assert from "node:assert/strict";
import { configureLog } from "../../src/log.ts";
import { HexFlags } from "../../src/sources/vedirect/hex.ts";
import { playHexDevice, type SetScript } from "../helpers/hex_device.ts";
import { launchChromium } from "../helpers/browser.ts";
import { PtyPair } from "../helpers/pty.ts";
import { waitFor } from "../helpers/servers.ts";
import { startSettingsGateway } from "../helpers/settings_gateway.ts";

configureLog({ level: "error" });

const TOKEN = "hex-t0ken";
// Long enough that a loaded machine answers in time; the late answer comes after three of them.
const HEX_TIMEOUT_MS = 1500;
/** The raw registers the tests set: max charge current (0.1 A) and absorption voltage (0.01 V). */
const CURRENT = 0xedf0;

type Json = Record<string, unknown>;

/** A gateway reading a scripted charger on a pty, its audit events at a webhook. */
async function chargerOnPty() {
  const pty = await PtyPair.create();
  const device = await playHexDevice(pty.peer, { kind: "mppt", intervalMs: 100 });
  const gw = await startSettingsGateway(
    `  mppt1: {type: vedirect, port: ${pty.device}, gap: 80ms, hex_timeout: ${HEX_TIMEOUT_MS}ms, history_every: 0}`,
    { token: TOKEN },
  ).catch(async (e) => {
    await device.close();
    await pty.unplug();
    throw e;
  });
  /** PUTs a setting with `script` in force; the answer's status and body. */
  const put = async (name: string, value: unknown, script: SetScript) => {
    device.script = script;
    const answer = await gw.put(`/devices/mppt1/settings/${name}`, { value });
    device.script = {};
    return answer;
  };
  return {
    device,
    /** The changes' audit events (setting_changed), in order. */
    get events(): Json[] {
      return gw.events.filter((e) => e.type === "setting_changed");
    },
    put,
    agent: gw.agent,
    url: gw.url,
    async [Symbol.asyncDispose]() {
      await gw[Symbol.asyncDispose]();
      await device.close();
      await pty.unplug();
    },
  };
}

/** The audit event's fields the answer must match. */
function audited(event: Json) {
  const { setting, old, requested, outcome } = event;
  return { setting, old, new: event.new, requested, outcome };
}

/** Waits for `n` audit events in all, then checks no more came with them. */
async function auditEvents(gw: { events: Json[] }, n: number): Promise<Json[]> {
  await waitFor(() => gw.events.length >= n, { what: `${n} audit events` });
  assert.equal(gw.events.length, n, JSON.stringify(gw.events));
  return gw.events;
}

Deno.test("a Set answered late, with a bad checksum or clamped: the device changed, and the answer and the audit say what it holds", async () => {
  await using gw = await chargerOnPty();
  const held = () => gw.device.sim.settings.get(CURRENT);
  assert.equal(held(), 150); // 15.0 A

  // Late: the echo comes after the timeout; a Get finds the new value.
  const late = await gw.put("max_charge_current", 10, {
    answer: "late",
    lateMs: HEX_TIMEOUT_MS * 3,
  });
  assert.equal(late.status, 200, JSON.stringify(late.body));
  assert.deepEqual(
    { ...late.body, register: undefined },
    {
      node: "mppt1",
      setting: "max_charge_current",
      register: undefined,
      old: 15,
      new: 10,
      requested: 10,
      outcome: "applied",
    },
  );
  assert.equal(held(), 100);

  // A bad checksum: the echo is dropped (counted), the Get finds the new value.
  const garbled = await gw.put("max_charge_current", 12.5, { answer: "bad_checksum" });
  assert.equal(garbled.status, 200, JSON.stringify(garbled.body));
  assert.equal(garbled.body.outcome, "applied");
  assert.equal(garbled.body.old, 10);
  assert.equal(garbled.body.new, 12.5);
  assert.equal(held(), 125);
  await waitFor(() => (gw.agent.sources.get("mppt1")!.status.counters.hex_errors ?? 0) >= 1, {
    what: "the garbled echo counted",
  });

  // Clamped: the device keeps at most 11.0 A and says so; the Get confirms what it holds.
  const clamped = await gw.put("max_charge_current", 14, { keep: (asked) => Math.min(asked, 110) });
  assert.equal(clamped.status, 200, JSON.stringify(clamped.body));
  assert.equal(clamped.body.outcome, "clamped");
  assert.equal(clamped.body.old, 12.5);
  assert.equal(clamped.body.new, 11);
  assert.equal(clamped.body.requested, 14);
  assert.equal(held(), 110);

  // Exactly one audit event per change, each saying what the answer said.
  const events = await auditEvents(gw, 3);
  assert.deepEqual(events.map(audited), [late.body, garbled.body, clamped.body].map(audited));
  assert.ok(events.every((e) => e.register === "0xEDF0" && /http token/.test(String(e.by))));
});

Deno.test("a Set the device did not take, or whose result cannot be read: failed or unknown, audited once each", async () => {
  await using gw = await chargerOnPty();
  const held = () => gw.device.sim.settings.get(CURRENT);

  // Refused with a flag, the value kept: failed, 502, the device unchanged.
  const refused = await gw.put("max_charge_current", 9, {
    keep: (_asked, had) => had,
    flags: HexFlags.ParameterError,
  });
  assert.equal(refused.status, 502, JSON.stringify(refused.body));
  assert.equal(refused.body.outcome, "failed");
  assert.equal(refused.body.old, 15);
  assert.equal(refused.body.new, 15);
  assert.equal(refused.body.requested, 9);
  assert.match(refused.body.error, /still holds 15/);
  assert.equal(held(), 150);

  // A late echo of a value it did not keep: judged by the Get, failed.
  const lateNo = await gw.put("max_charge_current", 8, {
    keep: (_asked, had) => had,
    answer: "late",
    lateMs: HEX_TIMEOUT_MS * 3,
  });
  assert.equal(lateNo.status, 502, JSON.stringify(lateNo.body));
  assert.equal(lateNo.body.outcome, "failed");
  assert.equal(lateNo.body.new, 15);

  // Deaf after the Set (which it took): nothing readable comes back: unknown, 504.
  const deaf = await gw.put("max_charge_current", 7, { answer: "never", deafAfter: true });
  assert.equal(deaf.status, 504, JSON.stringify(deaf.body));
  assert.equal(deaf.body.outcome, "unknown");
  assert.equal(deaf.body.new, null);
  assert.equal(deaf.body.old, 15);
  assert.match(deaf.body.error, /3 reads of 0xEDF0 unanswered: what the device holds is unknown/);
  // One Set and no more, then three Gets (bounded), and nothing after.
  const after = gw.device.requests.slice(gw.device.requests.lastIndexOf(
    gw.device.requests.findLast((r) => r.startsWith(":8F0ED"))!,
  ));
  assert.equal(after.filter((r) => r.startsWith(":8")).length, 1, after.join(" "));
  assert.equal(after.filter((r) => r.startsWith(":7F0ED")).length, 3, after.join(" "));

  const events = await auditEvents(gw, 3);
  assert.deepEqual(events.map(audited), [refused.body, lateNo.body, deaf.body].map(audited));
  // The gateway keeps serving: frames still arrive, and the API answers.
  const n = gw.agent.sources.get("mppt1")!.status.processed;
  await waitFor(() => gw.agent.sources.get("mppt1")!.status.processed > n, {
    what: "frames after the deaf HEX line",
  });
});

Deno.test("the device page says what the answer and the audit say: a clamped value, a refusal", async () => {
  await using gw = await chargerOnPty();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on("dialog", (d) => void d.accept(TOKEN));
    await page.goto(`${gw.url}/device/mppt1`);
    await page.click("#settings button.read");
    const form = '[data-setting="max_charge_current"]';
    await page.waitForSelector(`${form} input`);
    const message = () => page.textContent("#settings .msg").then((t) => t ?? "");

    gw.device.script = { keep: (asked) => Math.min(asked, 110) };
    await page.fill(`${form} input`, "14");
    await page.click(`${form} button`);
    await waitFor(async () => /clamped/.test(await message()), { what: "the clamp on the page" });
    assert.match(await message(), /15 → 11 \(clamped by the device; asked 14\)/);
    assert.equal(await page.inputValue(`${form} input`), "11");

    gw.device.script = { keep: (_asked, had) => had, flags: HexFlags.ParameterError };
    await page.fill(`${form} input`, "9");
    await page.click(`${form} button`);
    await waitFor(async () => /failed/.test(await message()), { what: "the refusal on the page" });
    assert.match(await message(), /failed: .*not taken.*still holds 11/);
    assert.equal(await page.inputValue(`${form} input`), "11");

    const events = await auditEvents(gw, 2);
    assert.deepEqual(events.map((e) => [e.outcome, e.new, e.requested]), [
      ["clamped", 11, 14],
      ["failed", 11, 9],
    ]);
  } finally {
    await browser.close();
  }
});
