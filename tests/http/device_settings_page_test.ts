/** The device view of a charger in Chromium: 30 yield bars, /query?days, the settings form. */
import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { shiftedClock } from "../../src/util/clock.ts";
import { launchChromium, testOutput } from "../helpers/browser.ts";
import { freePort, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

const TOKEN = "form-t0ken-123";

Deno.test("device view: 30 days of yield bars, lifetime figures, a setting changed through the form", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(
    parseConfig(
      `gateway: {id: van, data_dir: ${dir}, timezone: UTC}
http: {port: ${port}, token: ${TOKEN}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 200ms}
  bmv1: {type: vedirect, simulate: bmv, interval: 200ms}
`,
      gatewaySchema,
    ),
    { clock: shiftedClock(Date.UTC(2026, 5, 21, 12)) },
  );
  await agent.start();
  const url = `http://127.0.0.1:${port}`;
  const browser = await launchChromium();
  try {
    await waitFor(async () => {
      const r = await fetch(`${url}/query?node=mppt1&days=30`);
      return r.ok && (await r.json()).days.length === 30;
    }, { what: "30 days in /query" });
    const { days } = await (await fetch(`${url}/query?node=mppt1&days=7`)).json();
    assert.equal(days.length, 7);
    assert.equal(days.at(-1).date, "2026-06-21");
    assert.equal((await fetch(`${url}/query?node=bmv1&days=7`)).status, 404);

    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const prompts: string[] = [];
    const confirms: string[] = [];
    page.on("dialog", (d) => {
      if (d.type() === "prompt") {
        prompts.push(d.message());
        void d.accept(TOKEN);
        return;
      }
      // The first confirmation is declined (nothing may change), the next one accepted.
      confirms.push(d.message());
      void (confirms.length === 1 ? d.dismiss() : d.accept());
    });
    await page.goto(`${url}/device/mppt1`);
    assert.equal(await page.locator('[data-days="yield_kwh"] rect.bar').count(), 30);
    assert.equal(await page.locator('[data-days="max_power_w"] rect.bar').count(), 30);
    const bar = await page.getAttribute(
      '[data-days="yield_kwh"] rect[data-date="2026-06-20"]',
      "data-value",
    );
    assert.equal(Number(bar), days.at(-2).yield_kwh);

    const message = async () => await page.textContent("#settings .msg") ?? "";
    const set = async (name: string, value: string, shown: RegExp) => {
      const row = `[data-setting="${name}"]`;
      const select = await page.locator(`${row} select`).count();
      if (select) await page.selectOption(`${row} select`, value);
      else await page.fill(`${row} input`, value);
      await page.click(`${row} button`);
      await waitFor(async () => shown.test(await message()), { what: `${name}: ${shown}` });
    };
    await page.click("#settings button.read");
    await page.waitForSelector('[data-setting="load_output"] select');
    assert.equal(
      await page.inputValue('[data-setting="load_output"] select'),
      "automatic (BatteryLife)",
    );
    // The voltages' bounds are the battery type's safe range, not the register's.
    assert.equal(await page.getAttribute('[data-setting="float_voltage"] input', "max"), "13.8");
    await set("battery_type", "user defined", /Battery type: .* → user defined/);
    // The form is read again: the voltages' bounds are user defined's now.
    await waitFor(
      async () => await page.getAttribute('[data-setting="float_voltage"] input', "max") === "14",
      { what: "the float's bounds for user defined" },
    );
    await set("absorption_voltage", "13.9", /Absorption voltage: 14\.4 → 13\.9/);
    // Float above absorption: refused (422), the page says why and what to do.
    await set(
      "float_voltage",
      "14",
      /Float voltage: mppt1: float_voltage: 14 V is above absorption_voltage \(13\.9 V\).*lower the float/,
    );
    assert.equal(await page.getAttribute("#settings .msg", "class"), "msg bad");
    await set("max_charge_current", "99", /outside 0\.\.15 A \(the charger's rating 15 A\)/);

    // Charger off: the page asks first, saying what it does; declined, nothing changes.
    await set("device_mode", "off", /Charger: not changed/);
    assert.match(confirms[0], /Charger → off[\s\S]*stops charging the battery/);
    const stillOn = await (await fetch(`${url}/devices/mppt1/settings`)).json();
    assert.equal(
      stillOn.settings.find((x: { name: string }) => x.name === "device_mode").value,
      "on",
    );
    await set("device_mode", "off", /Charger: on → off/);
    assert.equal(confirms.length, 2);
    assert.equal(prompts.length, 1, "the token is asked once");
    assert.doesNotMatch(page.url(), /form-t0ken/);
    await waitFor(async () => {
      const status = await (await fetch(`${url}/status`)).json();
      return status.sources.mppt1.device.values.PPV === 0;
    }, { what: "the charger off in the frames (no PV power at noon)" });
    await page.screenshot({ path: await testOutput("device-settings-phone.png"), fullPage: true });

    const bmv = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await bmv.goto(`${url}/device/bmv1`);
    assert.match(await bmv.textContent("table.lifetime") ?? "", /Charge cycles|cycles/i);
    await bmv.screenshot({ path: await testOutput("device-bmv.png"), fullPage: true });
  } finally {
    await browser.close();
    await agent.stop();
  }
});
