import assert from "node:assert/strict";
import mqtt from "mqtt";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { shiftedClock } from "../../src/util/clock.ts";
import { launchChromium, testOutput } from "../helpers/browser.ts";
import { freePort, startMosquitto, waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

const TOKEN = "page-token";

async function startAgent() {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(
    parseConfig(
      `gateway: {id: roof-demo, data_dir: ${dir}}
http: {port: ${port}, token: ${TOKEN}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 300ms}
  bmv1: {type: vedirect, simulate: bmv, interval: 300ms, seed: 2}
sinks:
  cloud: {type: influxdb, url: "http://127.0.0.1:9", database: solar, backoff_max: 2s}
`,
      gatewaySchema,
      // Noon in June whatever the hour of the run: the panels charge, the battery's TTG is -1.
    ),
    { clock: shiftedClock(Date.UTC(2026, 5, 21, 12)) },
  );
  await agent.start();
  return { agent, url: `http://127.0.0.1:${port}` };
}

Deno.test("status page in Chromium: live values change without reloads; phone and desktop screenshots", async () => {
  const { agent, url } = await startAgent();
  const browser = await launchChromium();
  try {
    await waitFor(() => agent.sources.get("bmv1")!.status.processed >= 3, { what: "records" });
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await phone.goto(url);
    const cell = '[data-source="mppt1"] td[data-field="V"]';
    const first = await phone.textContent(cell);
    assert.match(first ?? "", /^\d+\.\d+$/);
    assert.equal(await phone.textContent('[data-source="mppt1"] h3'), "mppt1");
    assert.match(await phone.textContent('[data-source="bmv1"]') ?? "", /BMV-702/);
    assert.match(
      await phone.textContent('[data-sink="cloud"]') ?? "",
      // Never reached since the start: down (with its error), not "starting".
      /unreachable|down/,
    );
    const navigations: string[] = [];
    phone.on("framenavigated", (f) => navigations.push(f.url()));
    // The fragment refresh replaces the values; the page itself is not reloaded.
    await waitFor(async () => (await phone.textContent(cell)) !== first, {
      what: "a changed live value",
    });
    assert.deepEqual(navigations, []);
    const overflow = await phone.evaluate<number>(
      "document.documentElement.scrollWidth - window.innerWidth",
    );
    assert.ok(overflow <= 0, `no horizontal scrolling on a phone (${overflow}px)`);
    assert.ok(await phone.locator('[data-source="mppt1"] svg.spark polyline').count() >= 1);
    await phone.screenshot({ path: await testOutput("status-page-phone.png"), fullPage: true });
    const desktop = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await desktop.goto(url);
    await desktop.screenshot({ path: await testOutput("status-page.png"), fullPage: true });
  } finally {
    await browser.close();
    await agent.stop();
  }
});

Deno.test("the card: plain names with labels in tooltips, every field, history folded, TTG -1 as infinity", async () => {
  const { agent, url } = await startAgent();
  const browser = await launchChromium();
  try {
    await waitFor(
      () =>
        agent.sources.get("bmv1")!.status.processed >= 3 &&
        agent.sources.get("mppt1")!.status.processed >= 3,
      { what: "records" },
    );
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(url);
    const bmv = '[data-source="bmv1"]';
    // Every field of the BMV is there, H7-H18 included (16 were shown before).
    for (const label of ["V", "SOC", "TTG", "H1", "H7", "H17", "H18"]) {
      assert.equal(await page.locator(`${bmv} td[data-field="${label}"]`).count(), 1, label);
    }
    assert.equal(
      await page.locator(`${bmv} abbr[title="VE.Direct label H17"]`).textContent(),
      "Discharged energy",
    );
    assert.equal(
      await page.locator(`${bmv} details td[data-field="H17"]`).isVisible(),
      false,
      "history folded",
    );
    await page.click(`${bmv} details summary`);
    assert.equal(await page.locator(`${bmv} details td[data-field="H17"]`).isVisible(), true);
    // Unfolded, it stays so across the live refreshes (every 2 s): once a second refresh is
    // fetched, the first one has been applied.
    for (let i = 0; i < 2; i++) await page.waitForResponse((r) => r.url().includes("/fragment"));
    assert.equal(await page.locator(`${bmv} details td[data-field="H17"]`).isVisible(), true);
    const ttg = agent.control.status().sources.bmv1 as unknown as {
      device: { values: { TTG: number } };
    };
    assert.equal(ttg.device.values.TTG, -1, "charging at noon");
    assert.equal(await page.textContent(`${bmv} td[data-field="TTG"]`), "∞");
    assert.equal(await page.textContent(`${bmv} td[data-field="TTG"] + td`), "", "∞ has no unit");
    // Numbers line up with their headers in the Upstream table.
    const align = await page.evaluate<string[]>(
      `[...document.querySelectorAll("table.sinks tr:first-child th")].slice(2).map((th) => getComputedStyle(th).textAlign)`,
    );
    assert.deepEqual(align, ["right", "right", "right", "right", "right"]);
    // Sparklines on a time axis, their lowest and highest points marked (once two points exist).
    await waitFor(
      async () => await page.locator('[data-source="mppt1"] svg.spark circle.hi').count() >= 1,
      {
        what: "a marked sparkline",
      },
    );
  } finally {
    await browser.close();
    await agent.stop();
  }
});

Deno.test("the device view draws the last 24 h from the stored windows, with gaps", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(parseConfig(
    `gateway: {id: roof-demo, data_dir: ${dir}}
http: {port: ${port}, token: ${TOKEN}}
store: {type: embedded, max_rows: 5000, windows: [{level: 1m}, {level: 5m, from: 1m}]}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 1h}
sinks: {}
`,
    gatewaySchema,
  ));
  await agent.start();
  const url = `http://127.0.0.1:${port}`;
  const browser = await launchChromium();
  try {
    // A day of readings every 2 minutes, silent from 10 to 7 hours ago (a gap to show).
    const now = Date.now();
    const start = Math.floor((now - 86_400_000) / 300_000) * 300_000;
    await agent.aggregateNow(start);
    const samples = [];
    for (let t = start; t < now - 120_000; t += 120_000) {
      const hoursAgo = (now - t) / 3_600_000;
      if (hoursAgo < 10 && hoursAgo > 7) continue;
      const day = Math.max(0, Math.sin((t % 86_400_000) / 86_400_000 * 2 * Math.PI - Math.PI / 2));
      samples.push({
        node: "mppt1",
        ts: t,
        fields: { V: 12.6 + 1.5 * day, PPV: 200 * day, I: 10 * day },
      });
    }
    const res = await fetch(`${url}/ingest`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify(samples),
    });
    assert.equal(res.status, 200, await res.text());
    await agent.aggregateNow(now);
    const html = await (await fetch(`${url}/device/mppt1`)).text();
    assert.match(html, /5m windows/);
    for (
      const page of [
        await browser.newPage({ viewport: { width: 390, height: 844 } }),
        await browser.newPage({ viewport: { width: 1280, height: 900 } }),
      ]
    ) {
      // A read token in the address goes along on the way back (not written into the page).
      await page.goto(`${url}/device/mppt1?token=t0k`);
      assert.equal(
        await page.evaluate<string>(`document.querySelector("p.sub a").href`),
        `${url}/?token=t0k`,
      );
      for (const field of ["V", "PPV", "I"]) {
        const figure = page.locator(`figure[data-field="${field}"]`);
        assert.equal(await figure.count(), 1, field);
        assert.equal(
          await figure.locator("polyline.avg").count(),
          2,
          `${field}: the gap splits it`,
        );
      }
      assert.match(
        await page.textContent('figure[data-field="V"] figcaption') ?? "",
        /Battery voltage \(V\) · min 12\.6/,
      );
      const overflow = await page.evaluate<number>(
        "document.documentElement.scrollWidth - window.innerWidth",
      );
      assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px)`);
      const width = page.viewportSize()!.width;
      await page.screenshot({
        path: await testOutput(`device-view-${width < 600 ? "phone" : "desktop"}.png`),
        fullPage: true,
      });
    }
    // From the status page, the card links there.
    const status = await browser.newPage();
    await status.goto(url);
    await status.click('[data-source="mppt1"] a:has-text("last 24 h")');
    assert.match(status.url(), /\/device\/mppt1$/);
  } finally {
    await browser.close();
    await agent.stop();
  }
});

Deno.test("/metrics parses as Prometheus text and carries the page's figures", async () => {
  const { agent, url } = await startAgent();
  try {
    await waitFor(() => agent.sources.get("mppt1")!.status.processed >= 2, { what: "records" });
    const res = await fetch(`${url}/metrics`);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const families = parsePrometheusTextFormat(await res.text()) as {
      name: string;
      type: string;
      metrics: { value: string; labels?: Record<string, string> }[];
    }[];
    const byName = Object.fromEntries(families.map((f) => [f.name, f]));
    for (
      const name of [
        "edge_component_up",
        "edge_processed_total",
        "edge_dropped_total",
        "edge_events_total",
        "edge_sink_queue_records",
        "edge_source_last_record_age_seconds",
        "edge_outbox_bytes",
        "edge_build_info",
      ]
    ) assert.ok(byName[name], `${name} present`);
    assert.equal(byName.edge_processed_total.type, "COUNTER");
    const blocks = byName.edge_events_total.metrics.find((m) =>
      m.labels?.component === "mppt1" && m.labels?.counter === "blocks_ok"
    );
    assert.ok(Number(blocks?.value) >= 2);
    const queue = byName.edge_sink_queue_records.metrics.find((m) => m.labels?.sink === "cloud");
    assert.ok(Number(queue?.value) >= 0);
    // The process's memory, as /status shows it too.
    const rss = byName.edge_process_memory_bytes.metrics.find((m) => m.labels?.kind === "rss");
    assert.ok(Number(rss?.value) > 10 * 1024 * 1024);
    const status = await (await fetch(`${url}/status`)).json();
    assert.ok(status.process.memory.rss_mib > 10 && status.process.memory.heap_used_mib > 1);
  } finally {
    await agent.stop();
  }
});

Deno.test("pause/resume a sink and reload need the token; without it nothing changes", async () => {
  const { agent, url } = await startAgent();
  try {
    const post = (path: string, token?: string) =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    assert.equal((await post("/sinks/cloud/pause")).status, 401);
    assert.equal((await post("/reload")).status, 401);
    assert.equal(
      agent.control.status().sinks &&
        (agent.control.status().sinks as Record<string, { paused?: boolean }>).cloud.paused,
      undefined,
    );
    assert.deepEqual(await post("/sinks/cloud/pause", TOKEN), {
      status: 200,
      body: { sink: "cloud", paused: true },
    });
    assert.equal(
      (agent.control.status().sinks as Record<string, { paused?: boolean }>).cloud.paused,
      true,
    );
    assert.equal((await post("/sinks/nope/pause", TOKEN)).status, 404);
    assert.deepEqual(await post("/sinks/cloud/resume", TOKEN), {
      status: 200,
      body: { sink: "cloud", paused: false },
    });
    // Started without a config file: a reload is refused and says why.
    const reload = await post("/reload", TOKEN);
    assert.equal(reload.status, 400);
    assert.match(reload.body.errors[0], /without a config file/);
  } finally {
    await agent.stop();
  }
});

Deno.test("an MQTT source's card lists its nodes: messages, stored bytes, drops with reasons", async () => {
  const broker = await startMosquitto();
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const agent = new Agent(parseConfig(
    `gateway: {id: units, data_dir: ${dir}}
http: {port: ${port}}
sources:
  units:
    type: mqtt
    url: mqtt://127.0.0.1:${broker.port}
    topics: ["pepeunit/+/pepeunit"]
    max_wait: 10ms
    policies:
      nodes:
        relay: {processing_policy: {policy_type: NRecords}, filters: {max_size: 3}}
`,
    gatewaySchema,
  ));
  await agent.start();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  try {
    await pub.publishAsync("pepeunit/relay/pepeunit", "on", { qos: 1 });
    await pub.publishAsync("pepeunit/relay/pepeunit", "too long", { qos: 1 });
    await pub.publishAsync("pepeunit/thermo/pepeunit", "21.5", { qos: 1 });
    let html = "";
    await waitFor(async () => {
      html = await (await fetch(`http://127.0.0.1:${port}/fragment`)).text();
      return html.includes("thermo") && html.includes("over_max_size 1");
    }, { what: "node rows on the page" });
    assert.match(html, /2 nodes · 3 messages/);
    assert.match(
      html,
      /<th title="relay">relay<\/th>\s*<td class="num">2<\/td><td class="num">2 B<\/td>/,
    );
    assert.doesNotMatch(html, /checksum errors/);
  } finally {
    await pub.endAsync();
    await agent.stop();
    await broker.stop();
  }
});
