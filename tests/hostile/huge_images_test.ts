/**
 * Attack 4: images that are small files but huge pictures. A 2 MB PNG of
 * 16000 x 16000 pixels took ffmpeg 16 s and 2.1 GB each, and starved real frames.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { bombPng, jpegFrames } from "../helpers/frames.ts";
import { startGateway } from "../helpers/gateway.ts";
import { startMosquitto, waitFor } from "../helpers/servers.ts";

Deno.test("decompression-bomb PNGs are refused from their header, ffmpeg is stopped after its timeout, real frames are kept", async () => {
  const broker = await startMosquitto();
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const gw = await startGateway((port, data) =>
    `gateway: {id: cams, data_dir: ${data}}
log: {level: error}
http: {port: ${port}}
sources:
  cams:
    type: mqtt
    url: "${url}"
    topics: ["cams/+"]
    client_id: cams
    max_size: 8MiB
    policies:
      nodes:
        gate: {image_policy: {format: jpeg, width: 160, height: 120, timelapse: {frames: 1000}}}
        slow: {image_policy: {format: jpeg, timeout: 1ms, timelapse: {frames: 1000}}}
`
  );
  const pub = await mqtt.connectAsync(url);
  try {
    await waitFor(async () => (await gw.health()).body.components["mqtt.cams"] !== "starting", {
      what: "subscribed",
    });
    const bomb = bombPng(16_000, 16_000);
    const frames = await jpegFrames(3);
    const started = performance.now();
    for (let i = 0; i < 6; i++) await pub.publishAsync("cams/gate", bomb as unknown as string);
    for (const f of frames) await pub.publishAsync("cams/gate", f as unknown as string);
    await pub.publishAsync("cams/slow", frames[0] as unknown as string);
    await waitFor(async () => {
      const s = await gw.status();
      const tl = s.sources.cams.timelapse as { frames: number };
      return tl.frames === 3 && (s.sources.cams.dropped.image_timeout ?? 0) === 1;
    }, { what: "3 frames kept and the slow one stopped" });
    const took = performance.now() - started;
    const s = await gw.status();
    assert.equal(s.sources.cams.dropped.over_max_pixels, 6);
    console.log(
      `6 bombs refused, 3 frames kept in ${took.toFixed(0)} ms; RSS max ${
        gw.peakRssMiB().toFixed(0)
      } MiB`,
    );
    assert.ok(gw.peakRssMiB() < 200, `RSS ${gw.peakRssMiB().toFixed(0)} MiB`);
    assert.equal((await gw.health()).code, 200);
  } finally {
    await pub.endAsync();
    await gw.stop();
    await broker.stop();
  }
});
