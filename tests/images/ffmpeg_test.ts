/** Image normalisation and timelapse frames on disk, with the real ffmpeg. */
import assert from "node:assert/strict";
import { MediaError, normaliseImage } from "../../src/images/ffmpeg.ts";
import { Timelapse } from "../../src/images/timelapse.ts";
import { policySchema } from "../../src/policies/schema.ts";
import { jpegFrames, probeVideo } from "../helpers/frames.ts";

function imagePolicy(image: Record<string, unknown>) {
  return policySchema.parse({ image_policy: image }).image_policy!;
}

async function dimensions(image: Uint8Array): Promise<string> {
  const child = new Deno.Command("ffprobe", {
    args: ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", "-"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(image);
  await w.close();
  return new TextDecoder().decode((await child.output()).stdout).trim();
}

Deno.test("normalisation: box, crop, format and quality; metadata stripped; corrupt input refused", async () => {
  const [frame] = await jpegFrames(1, { width: 640, height: 480, comment: "GPS 51.5N 0.1W" });
  assert.ok(new TextDecoder("latin1").decode(frame).includes("GPS 51.5N"));
  const inside = await normaliseImage(frame, {
    from: "jpeg",
    policy: imagePolicy({ width: 200, height: 200, quality: 50 }),
  });
  assert.equal(await dimensions(inside), "mjpeg,200,150");
  assert.ok(!new TextDecoder("latin1").decode(inside).includes("GPS"), "comment stripped");
  const cover = await normaliseImage(frame, {
    from: "jpeg",
    policy: imagePolicy({ width: 200, height: 200, fit: "cover" }),
  });
  assert.equal(await dimensions(cover), "mjpeg,200,200");
  const webp = await normaliseImage(frame, {
    from: "jpeg",
    policy: imagePolicy({ format: "webp" }),
  });
  assert.equal(await dimensions(webp), "webp,640,480");
  const png = await normaliseImage(frame, { from: "jpeg", policy: imagePolicy({ format: "png" }) });
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const low = await normaliseImage(frame, { from: "jpeg", policy: imagePolicy({ quality: 10 }) });
  const high = await normaliseImage(frame, { from: "jpeg", policy: imagePolicy({ quality: 95 }) });
  assert.ok(low.length < high.length, `quality 10 (${low.length}) < 95 (${high.length})`);
  await assert.rejects(
    normaliseImage(frame.subarray(0, frame.length / 3), { from: "jpeg", policy: imagePolicy({}) }),
    MediaError,
  );
});

Deno.test("timelapse frames: due by count, bytes or span; a restart mid-build finishes the same video", async () => {
  const dir = await Deno.makeTempDir();
  const settings = policySchema.parse({
    image_policy: { timelapse: { frames: 10, fps: 5, width: 160, height: 120, span: "1h" } },
  }).image_policy!.timelapse!;
  let t = new Timelapse({ dir, maxDisk: 10 * 1024 * 1024 });
  await t.open();
  const frames = await jpegFrames(12, { width: 160, height: 120 });
  const t0 = Date.UTC(2026, 10, 23, 6);
  for (let i = 0; i < 9; i++) {
    await t.add("cam/1", { ts: t0 + i * 1000, ext: ".jpg", bytes: frames[i] });
  }
  assert.equal(t.due("cam/1", settings, t0 + 10_000), false);
  assert.equal(t.due("cam/1", settings, t0 + 3_600_000), true, "span reached");
  assert.equal(t.due("cam/1", { ...settings, max_bytes: 1000 }, t0), true, "bytes reached");
  for (let i = 9; i < 12; i++) {
    await t.add("cam/1", { ts: t0 + i * 1000, ext: ".jpg", bytes: frames[i] });
  }
  assert.equal(t.due("cam/1", settings, t0 + 12_000), true, "count reached");
  const first = await t.build("cam/1", settings, { prefix: "p/" });
  // A node id is one key level: its "/" is escaped (~2F).
  assert.equal(first.key, `p/cam~2F1/timelapse/${t0}-${t0 + 9000}.mp4`);
  assert.equal(first.frames, 10);

  // Crash before the outbox took it, with the video file lost and half the frames not yet moved.
  await Deno.remove(`${dir}/cam~2F1/building/video.mp4`);
  for (let i = 6; i <= 10; i++) {
    await Deno.rename(
      `${dir}/cam~2F1/building/${String(i).padStart(6, "0")}.jpg`,
      `${dir}/cam~2F1/frames/${t0 + (i - 1) * 1000}.jpg`,
    );
  }
  t = new Timelapse({ dir, maxDisk: 10 * 1024 * 1024 });
  await t.open();
  assert.equal(t.usage().frames, 2 + 5, "waiting frames counted after the restart");
  assert.equal(t.due("cam/1", settings, t0), true, "a half-built video is due at once");
  const again = await t.build("cam/1", settings, { prefix: "p/" });
  assert.equal(again.key, first.key);
  await Deno.writeFile(`${dir}/v.mp4`, again.bytes);
  assert.deepEqual(await probeVideo(`${dir}/v.mp4`), { frames: 10, duration: 2 });
  await t.finish("cam/1");
  assert.deepEqual(t.usage().nodes["cam/1"], {
    frames: 2,
    bytes: frames[10].length + frames[11].length,
    building: false,
  });

  const full = new Timelapse({ dir: `${dir}/small`, maxDisk: frames[0].length + 10 });
  await full.open();
  await full.add("n", { ts: t0, ext: ".jpg", bytes: frames[0] });
  await assert.rejects(
    full.add("n", { ts: t0 + 1, ext: ".jpg", bytes: frames[1] }),
    /frames_max_disk/,
  );
});
