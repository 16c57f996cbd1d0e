/**
 * The site's time zone on a running gateway: the same instant (03:00 UTC) is noon in Tokyo and
 * the evening before in Los Angeles; days, the device view and the simulated sun follow it.
 */
import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { renderDevice } from "../../src/http/device.ts";
import { configureLog } from "../../src/log.ts";
import type { Window } from "../../src/model.ts";
import { shiftedClock } from "../../src/util/clock.ts";
import { freePort, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

const AT = Date.UTC(2026, 5, 21, 3);

async function siteIn(timezone: string) {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(
    parseConfig(
      `gateway: {id: site, data_dir: ${dir}, timezone: ${timezone}}
http: {port: ${port}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 100ms}
`,
      gatewaySchema,
    ),
    { clock: shiftedClock(AT) },
  );
  await agent.start();
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    const r = await fetch(`${url}/query?node=mppt1&days=30`);
    return r.ok && (await r.json()).days.length === 30;
  }, { what: `30 days in ${timezone}` });
  await waitFor(() => agent.sources.get("mppt1")!.status.processed >= 3, { what: "frames" });
  const json = async (path: string) => await (await fetch(url + path)).json();
  return {
    days: (await json("/query?node=mppt1&days=2")).days as { date: string }[],
    ppv: (await json("/status")).sources.mppt1.device.values.PPV as number,
    page: await (await fetch(`${url}/device/mppt1`)).text(),
    home: await (await fetch(`${url}/`)).text(),
    stop: () => agent.stop(),
  };
}

Deno.test("days, the device view and the simulated sun follow gateway.timezone", async () => {
  const tokyo = await siteIn("Asia/Tokyo");
  await tokyo.stop();
  const la = await siteIn("America/Los_Angeles");
  await la.stop();
  assert.deepEqual(tokyo.days.map((d) => d.date), ["2026-06-20", "2026-06-21"]);
  assert.deepEqual(la.days.map((d) => d.date), ["2026-06-19", "2026-06-20"]);
  assert.ok(tokyo.ppv > 100, `Tokyo at noon: PV ${tokyo.ppv} W`);
  assert.equal(la.ppv, 0, "Los Angeles at 20:00: no sun");
  assert.match(tokyo.page, /times Asia\/Tokyo \(UTC\+09:00\)/);
  assert.match(la.page, /times America\/Los_Angeles \(UTC-07:00\)/);
  // The status page's time: Tokyo's noon hour, Los Angeles' evening.
  assert.match(tokyo.home, /updated 12:\d\d:\d\d Asia\/Tokyo \(UTC\+09:00\)/);
  assert.match(la.home, /updated 20:\d\d:\d\d America\/Los_Angeles \(UTC-07:00\)/);
});

Deno.test("the device view's axis ticks fall on the zone's whole hours", () => {
  const now = Date.UTC(2026, 5, 21, 12, 10);
  const windows: Window[] = [];
  for (let t = now - 86_400_000; t < now; t += 300_000) {
    windows.push({
      node: "mppt1",
      level: "5m",
      start: t,
      end: t + 300_000,
      stats: { V: { min: 12, max: 13, avg: 12.5, sum: 0, count: 1 } },
    } as unknown as Window);
  }
  const labels = (timeZone: string) =>
    [
      ...renderDevice("mppt1", windows, { now, level: "5m", timeZone }).matchAll(
        /text-anchor="middle">(\d\d:\d\d)</g,
      ),
    ].map((m) => m[1]);
  // Every three hours of local time: 00:00, 03:00... there; in Kolkata never UTC's 08:30.
  for (const zone of ["UTC", "Asia/Kolkata", "America/Los_Angeles"]) {
    const ticks = labels(zone);
    assert.equal(ticks.length, 8, `${zone}: ${ticks}`);
    for (const t of ticks) assert.match(t, /^(00|03|06|09|12|15|18|21):00$/, `${zone}: ${ticks}`);
  }
  assert.notDeepEqual(labels("UTC"), labels("America/Los_Angeles"));
  assert.match(renderDevice("mppt1", windows, { now, level: "5m" }), /times UTC/);
});
