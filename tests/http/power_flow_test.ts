/** The power flow on the status page, in Chromium: the DOM agrees with /status; stale is not 0. */
import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { simulateToPort } from "../../src/cli/simulate.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { powerFlow } from "../../src/sources/vedirect/power_flow.ts";
import type { ComponentJson } from "../../src/status.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { launchChromium, testOutput } from "../helpers/browser.ts";
import { PtyPair } from "../helpers/pty.ts";
import { freePort, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

// Noon: the simulated sun is up, so every edge carries power.
const NOON = Date.UTC(2026, 5, 21, 12);

Deno.test("power flow in Chromium: watts on every edge match /status; an unplugged monitor is stale, not 0", async () => {
  const clock = new FakeClock(NOON);
  const pty = await PtyPair.create();
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(
    parseConfig(
      `gateway: {id: van, data_dir: ${dir}}
http: {port: ${port}}
sources:
  mppt1: {type: vedirect, simulate: mppt, seed: 3}
  mppt2: {type: vedirect, simulate: mppt, seed: 4}
  bmv: {type: vedirect, port: ${pty.device}, gap: 80ms}
`,
      gatewaySchema,
    ),
    { clock },
  );
  await agent.start();
  const abort = new AbortController();
  const device = simulateToPort(pty.peer, {
    device: "bmv",
    intervalMs: 1000,
    count: 0,
    clock,
    signal: abort.signal,
  }).catch(() => 0);
  const url = `http://127.0.0.1:${port}`;
  const browser = await launchChromium();
  try {
    // Time moves only here: a few seconds of frames from each device, then it stands still.
    await waitFor(async () => {
      await clock.advance(1000);
      await new Promise((r) => setTimeout(r, 150));
      return ["mppt1", "mppt2", "bmv"].every((n) => agent.sources.get(n)!.status.processed >= 3);
    }, { what: "frames from three devices" });
    const status = await (await fetch(`${url}/status`)).json();
    const sources = Object.entries(status.sources) as [string, ComponentJson][];
    const expected = powerFlow(sources, clock.now());
    assert.ok(expected.pv! > 0 && expected.soc !== null && expected.loads !== null);
    const mppts = ["mppt1", "mppt2"].map((n) => status.sources[n].device.values.PPV as number);
    assert.equal(expected.pv, mppts[0] + mppts[1], "PV sums both chargers");
    // The other edges from the devices' own values, not only from powerFlow().
    const v = (n: string) => status.sources[n].device.values as Record<string, number>;
    const out = (n: string) => v(n).V * v(n).I;
    const loadOutputs = v("mppt1").V * v("mppt1").IL + v("mppt2").V * v("mppt2").IL;
    assert.ok(Math.abs(expected.charging! - (out("mppt1") + out("mppt2"))) < 1e-6);
    assert.ok(Math.abs(expected.loads! - (expected.charging! - v("bmv").P + loadOutputs)) < 1e-6);
    assert.equal(expected.soc, v("bmv").SOC);

    for (
      const [width, file] of [[390, "power-flow-phone.png"], [1280, "power-flow.png"]] as const
    ) {
      const page = await browser.newPage({ viewport: { width, height: 900 } });
      await page.goto(url);
      const watts = async (id: string) =>
        await page.getAttribute(`[data-flow="${id}"]`, "data-watts");
      assert.equal(await watts("pv"), String(Math.round(expected.pv!)));
      assert.equal(await watts("charging"), String(Math.round(expected.charging!)));
      assert.equal(await watts("loads"), String(Math.round(expected.loads!)));
      assert.equal(await page.textContent('[data-flow="soc"]'), `${expected.soc!.toFixed(1)} %`);
      assert.match(
        await page.textContent(".flow") ?? "",
        /chargers' output − the battery monitor's/,
      );
      const overflow = await page.evaluate<number>(
        "document.documentElement.scrollWidth - window.innerWidth",
      );
      assert.ok(overflow <= 0, `no horizontal scrolling at ${width}px (${overflow}px)`);
      await page.screenshot({ path: await testOutput(file), fullPage: true });
      if (width === 390) {
        await page.emulateMedia({ colorScheme: "dark" });
        await page.screenshot({ path: await testOutput("power-flow-dark.png") });
      }
      await page.close();
    }

    // The monitor's cable is pulled: the battery goes stale, its SOC is not shown as 0.
    abort.abort();
    await device;
    await pty.unplug();
    await waitFor(() => agent.sources.get("bmv")!.status.state === "down", { what: "bmv down" });
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(url);
    assert.equal(await page.textContent('[data-flow="soc"]'), "–");
    assert.equal(
      await page.getAttribute('[data-flow="pv"]', "data-watts"),
      String(Math.round(expected.pv!)),
    );
    assert.match(await page.textContent(".stale-list") ?? "", /bmv/);
    assert.equal(await page.locator(".flowchart .node.stale").count(), 1);
    assert.match(await page.textContent(".flow") ?? "", /load outputs only/);
    await page.click(".flow summary");
    assert.match(await page.textContent('.flow tr[data-device="bmv"]') ?? "", /stale, last frame/);
    await page.screenshot({ path: await testOutput("power-flow-stale.png"), fullPage: true });
  } finally {
    await browser.close();
    abort.abort();
    await device;
    await agent.stop();
    await pty.unplug();
  }
});
