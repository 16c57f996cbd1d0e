/**
 * Images and videos through ffmpeg (Debian's package), run as a child process:
 * no native code in the gateway (no --allow-ffi; `--allow-run=ffmpeg` is
 * enough), decoder crashes and memory stay outside it, and one tool does both
 * the per-frame normalisation and the timelapse encoding.
 */
import type { ImagePolicy } from "./schema.ts";

/** The image formats frames come in and are stored as. */
export type ImageFormat = "jpeg" | "png" | "webp";

/** File name extension per format. */
export const IMAGE_EXTENSION: Record<ImageFormat, string> = {
  jpeg: ".jpg",
  png: ".png",
  webp: ".webp",
};

/** MIME type per format. */
export const IMAGE_TYPE: Record<ImageFormat, string> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
};

/** ffmpeg could not decode or encode: the reason is ffmpeg's own first error line. */
export class MediaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MediaError";
  }
}

/** The ffmpeg version line, or null when ffmpeg is not installed (or not allowed to run). */
export async function ffmpegVersion(binary = "ffmpeg"): Promise<string | null> {
  try {
    const out = await new Deno.Command(binary, {
      args: ["-version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).split("\n")[0] : null;
  } catch {
    return null;
  }
}

/** What to do when ffmpeg is missing: said by `check`, /health and the log. */
export const FFMPEG_MISSING =
  "ffmpeg was not found on PATH: image policies need it (Debian: apt-get install ffmpeg)";

/** ffmpeg ran longer than it was given: stopped, its work dropped. */
export class MediaTimeout extends MediaError {
  constructor(message: string) {
    super(message);
    this.name = "MediaTimeout";
  }
}

async function run(
  args: string[],
  options: { input?: Uint8Array; timeoutMs?: number } = {},
): Promise<Uint8Array> {
  const { input, timeoutMs } = options;
  const child = new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-nostdin", "-v", "error", "-xerror", ...args],
    stdin: input ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = timeoutMs
    ? setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, timeoutMs)
    : undefined;
  if (input) {
    const writer = child.stdin.getWriter();
    // ffmpeg may stop reading early on a corrupt input: its exit status tells.
    await writer.write(input).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output().finally(() => clearTimeout(timer));
  if (timedOut) throw new MediaTimeout(`ffmpeg took longer than ${timeoutMs} ms; stopped`);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    throw new MediaError(`ffmpeg exited with ${out.code}: ${err.slice(0, 300)}`);
  }
  return out.stdout;
}

function scaleFilter(policy: ImagePolicy): string[] {
  const { width, height, fit } = policy;
  if (!width && !height) return [];
  const w = width ?? -2;
  const h = height ?? -2;
  if (fit === "cover" && width && height) {
    return [
      `scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h}`,
    ];
  }
  return [
    width && height ? `scale=${w}:${h}:force_original_aspect_ratio=decrease` : `scale=${w}:${h}`,
  ];
}

/**
 * Decodes one image, fits it to the policy's box, drops every metadata block
 * (EXIF, GPS, comments) and encodes it in the policy's format and quality.
 * Throws {@link MediaError} when the image cannot be decoded.
 */
export function normaliseImage(
  image: Uint8Array,
  options: { from: ImageFormat; policy: ImagePolicy },
): Promise<Uint8Array> {
  const { policy } = options;
  const filters = [...scaleFilter(policy)];
  const encode = policy.format === "jpeg"
    ? ["-c:v", "mjpeg", "-q:v", String(Math.round(31 - (policy.quality / 100) * 29))]
    : policy.format === "webp"
    ? ["-c:v", "libwebp", "-quality", String(policy.quality)]
    : ["-c:v", "png"];
  if (policy.format === "jpeg") filters.push("format=yuvj420p");
  return run([
    // A damaged image is refused, not half-decoded into a grey frame.
    "-err_detect",
    "explode",
    // The header was checked; the decoder refuses anything larger all the same.
    "-max_pixels",
    String(policy.max_pixels),
    "-f",
    `${options.from}_pipe`,
    "-i",
    "pipe:0",
    "-frames:v",
    "1",
    "-map_metadata",
    "-1",
    ...(filters.length ? ["-vf", filters.join(",")] : []),
    ...encode,
    "-f",
    "image2pipe",
    "pipe:1",
  ], { input: image, timeoutMs: policy.timeout });
}

/**
 * Encodes numbered frames (`<dir>/%06d<ext>`) into an H.264 MP4 at `output`,
 * every frame scaled into width x height (letterboxed).
 */
export async function encodeTimelapse(
  dir: string,
  output: string,
  options: { ext: string; fps: number; width: number; height: number; crf: number },
): Promise<void> {
  const { width: w, height: h } = options;
  await run([
    "-y",
    "-framerate",
    String(options.fps),
    "-i",
    `${dir}/%06d${options.ext}`,
    "-vf",
    `scale=${w}:${h}:force_original_aspect_ratio=decrease,pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2,format=yuv420p`,
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    String(options.crf),
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    output,
  ]);
}
