/** JPEG frames over MQTT -> normalised -> frames on disk -> timelapse video in s3rver + row in ClickHouse. */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { jpegFrames, probeVideo } from "../helpers/frames.ts";
import {
  clickhouseQuery,
  objectKeys,
  readObject,
  s3rverClient,
  startClickHouse,
  startMosquitto,
  startS3rver,
  waitFor,
} from "../helpers/servers.ts";

configureLog({ level: "error" });
const CAM = "99999999-9999-4999-8999-999999999999";

function config(dir: string, ports: { mqtt: number; ch: number; s3: number }): string {
  return `gateway: {id: t, data_dir: ${dir}}
http: {enabled: false}
sources:
  cams:
    type: mqtt
    url: mqtt://127.0.0.1:${ports.mqtt}
    topics: ["pepeunit/+/pepeunit"]
    client_id: cams-test
    max_size: 1MiB
    max_wait: 10ms
    policies:
      tick: 100ms
      nodes:
        ${CAM}:
          image_policy:
            format: jpeg
            quality: 60
            width: 160
            height: 120
            fit: cover
            timelapse: {frames: 30, fps: 10, width: 160, height: 120}
          file_policy: {prefix: "cams/"}
sinks:
  ch: {type: clickhouse, url: "http://127.0.0.1:${ports.ch}", max_wait: 50ms, backoff_max: 300ms}
  s3: {type: s3, url: "http://127.0.0.1:${ports.s3}", bucket: cam-videos, access_key: S3RVER, secret_key: S3RVER, max_wait: 50ms, backoff_max: 300ms}
`;
}

Deno.test("30 JPEG frames over MQTT become one video in S3 (ffprobe: 30 frames, 3 s) and a ClickHouse row; a restart mid-accumulation and a corrupt JPEG lose no frame", async () => {
  const broker = await startMosquitto();
  const ch = await startClickHouse();
  const s3 = await startS3rver();
  const dir = await Deno.makeTempDir();
  const ports = { mqtt: broker.port, ch: ch.port, s3: s3.port };
  const frames = await jpegFrames(30, { width: 320, height: 240, comment: "camera serial 1234" });
  let agent = new Agent(parseConfig(config(dir, ports), gatewaySchema));
  await agent.start();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const send = (payload: Uint8Array) =>
    pub.publishAsync(`pepeunit/${CAM}/pepeunit`, Buffer.from(payload), { qos: 1 });
  const status = () =>
    (agent.control.status().sources as Record<string, Record<string, unknown>>).cams as {
      nodes: Record<string, { dropped: Record<string, number>; stored_bytes: number }>;
      timelapse: { frames: number; bytes: number; ffmpeg: string };
    };
  try {
    for (const f of frames.slice(0, 12)) await send(f);
    await send(frames[12].subarray(0, frames[12].length / 3)); // a corrupt JPEG
    await send(new TextEncoder().encode("21.5")); // not an image
    await waitFor(() => status().nodes[CAM]?.dropped.corrupt_image === 1, { what: "corrupt JPEG" });
    assert.equal(status().timelapse.frames, 12);
    assert.match(status().timelapse.ffmpeg, /^ffmpeg version/);
    assert.deepEqual(status().nodes[CAM].dropped, { corrupt_image: 1, not_an_image: 1 });

    await agent.stop(); // restart in the middle of the accumulation
    agent = new Agent(parseConfig(config(dir, ports), gatewaySchema));
    await agent.start();
    assert.equal(status().timelapse.frames, 12, "frames found again after the restart");
    for (const f of frames.slice(12)) await send(f);

    const client = s3rverClient(s3.port);
    let key = "";
    await waitFor(async () => {
      key = (await objectKeys(client, "cam-videos", "cams/")).find((k) => k.endsWith(".mp4")) ?? "";
      return key !== "";
    }, { what: "the video in S3" });
    assert.match(key, new RegExp(`^cams/${CAM}/timelapse/\\d{13}-\\d{13}\\.mp4$`));
    const video = await readObject(client, "cam-videos", key);
    await Deno.writeFile(`${dir}/video.mp4`, video);
    assert.deepEqual(await probeVideo(`${dir}/video.mp4`), { frames: 30, duration: 3 });

    // The normalised frames went to S3 too (the file policy): 160x120, comment stripped.
    const stored = await objectKeys(client, "cam-videos", `cams/${CAM}/all/`);
    assert.equal(stored.length, 30);
    const one = await readObject(client, "cam-videos", stored[0]);
    assert.ok(!one.toString("latin1").includes("camera serial"));

    await waitFor(async () => {
      const row = await clickhouseQuery(
        ch.port,
        `SELECT object_key, frames, duration, size, last_frame_datetime >= first_frame_datetime FROM timelapse_entry WHERE unit_node_uuid = '${CAM}' FORMAT TSV`,
      );
      return row.trim() === `${key}\t30\t3\t${video.length}\t1`;
    }, { what: "the video's metadata row" });
    assert.equal(status().timelapse.frames, 0, "frames deleted once the video was taken");
    const files = Number(
      await clickhouseQuery(
        ch.port,
        `SELECT sum(size) FROM file_entry WHERE unit_node_uuid = '${CAM}'`,
      ),
    );
    assert.equal(status().nodes[CAM].stored_bytes, files + video.length);
  } finally {
    await pub.endAsync();
    await agent.stop();
    await Promise.all([broker.stop(), ch.stop(), s3.stop()]);
  }
});
