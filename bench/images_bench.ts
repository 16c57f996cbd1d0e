/** Frames normalised per second and timelapse encoding time, with Debian's ffmpeg. */
import { systemClock } from "../src/util/clock.ts";
import { encodeTimelapse, normaliseImage } from "../src/images/ffmpeg.ts";
import { ImageIntake } from "../src/images/intake.ts";
import { createLogger } from "../src/log.ts";
import { Policies } from "../src/policies/policies.ts";
import { policiesSchema, policySchema } from "../src/policies/schema.ts";
import { ComponentStatus } from "../src/status.ts";
import { jpegFrames } from "../tests/helpers/frames.ts";
import { report } from "./util.ts";
import { loadArchivers } from "../src/policies/archive.ts";

await loadArchivers();

/** Runs the image benchmarks. */
export async function benchImages(): Promise<void> {
  const count = 100;
  const frames = await jpegFrames(count, { width: 1280, height: 720 });
  const bytes = frames.reduce((n, f) => n + f.length, 0);
  const policy = policySchema.parse({
    image_policy: { width: 640, height: 480, quality: 75 },
  }).image_policy!;
  let t = performance.now();
  const out: Uint8Array[] = [];
  for (const f of frames) out.push(await normaliseImage(f, { from: "jpeg", policy }));
  let s = (performance.now() - t) / 1000;
  const detail = `${count} JPEG 1280x720 (${Math.round(bytes / count / 1024)} KiB) -> 640x360 q75`;
  report(
    "image normalisation (ffmpeg, one process each)",
    `${(count / s).toFixed(1)} frames/s`,
    `${detail}, one at a time`,
  );
  // The gateway's path: the image intake, several ffmpeg at once, frames kept in order.
  const policies = new Policies(
    policiesSchema.parse({
      nodes: { cam: { image_policy: { width: 640, height: 480, quality: 75 } } },
    }),
    { path: `${await Deno.makeTempDir()}/p.db`, log: createLogger("bench") },
  );
  policies.open();
  const intake = new ImageIntake({
    clock: systemClock,
    policies,
    dir: await Deno.makeTempDir(),
    maxDisk: 1024 ** 3,
    append: () => Promise.resolve(),
    drop: () => {},
    log: createLogger("bench"),
    status: new ComponentStatus("cams", "mqtt"),
  });
  await intake.open();
  t = performance.now();
  for (const f of frames) {
    const verdict = policies.accept("cam", f, {
      payload: { kind: "image", format: "jpeg" },
      now: Date.now(),
    });
    if (verdict.kind === "image") intake.accept("cam", f, { ...verdict, ack: () => {} });
  }
  await intake.close();
  s = (performance.now() - t) / 1000;
  report(
    "image intake (ffmpeg, one per core)",
    `${(count / s).toFixed(1)} frames/s`,
    `${detail}, ${navigator.hardwareConcurrency} cores`,
  );
  policies.close();
  const dir = await Deno.makeTempDir({ prefix: "timelapse-bench-" });
  for (let i = 0; i < 300; i++) {
    await Deno.writeFile(`${dir}/${String(i + 1).padStart(6, "0")}.jpg`, out[i % count]);
  }
  t = performance.now();
  await encodeTimelapse(dir, `${dir}/video.mp4`, {
    ext: ".jpg",
    fps: 10,
    width: 640,
    height: 480,
    crf: 28,
  });
  s = (performance.now() - t) / 1000;
  const size = (await Deno.stat(`${dir}/video.mp4`)).size;
  report(
    "timelapse encoding (libx264 veryfast)",
    `${s.toFixed(2)} s`,
    `300 frames 640x480 at 10 fps -> ${Math.round(size / 1024)} KiB MP4`,
  );
  await Deno.remove(dir, { recursive: true });
}

if (import.meta.main) await benchImages();
