/** Test JPEG frames made by ffmpeg (its test pattern, a different picture per frame). */

/** `count` JPEG frames of width x height, each with a comment segment carrying `comment`. */
export async function jpegFrames(
  count: number,
  options: { width?: number; height?: number; comment?: string } = {},
): Promise<Uint8Array[]> {
  const dir = await Deno.makeTempDir({ prefix: "frames-" });
  const size = `${options.width ?? 320}x${options.height ?? 240}`;
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      `testsrc=size=${size}:rate=${count}`,
      "-frames:v",
      String(count),
      "-q:v",
      "3",
      `${dir}/%03d.jpg`,
    ],
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const frames: Uint8Array[] = [];
  const comment = new TextEncoder().encode(options.comment ?? "");
  for (let i = 1; i <= count; i++) {
    const jpeg = await Deno.readFile(`${dir}/${String(i).padStart(3, "0")}.jpg`);
    if (comment.length === 0) {
      frames.push(jpeg);
      continue;
    }
    // SOI, then a COM segment (metadata a camera might add), then the rest.
    const len = comment.length + 2;
    const com = new Uint8Array([0xff, 0xfe, len >> 8, len & 0xff, ...comment]);
    frames.push(new Uint8Array([...jpeg.subarray(0, 2), ...com, ...jpeg.subarray(2)]));
  }
  await Deno.remove(dir, { recursive: true });
  return frames;
}

/** ffprobe's frame count and duration (s) of a video file. */
export async function probeVideo(path: string): Promise<{ frames: number; duration: number }> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-count_frames",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=nb_read_frames:format=duration",
      "-of",
      "json",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return {
    frames: Number(info.streams[0].nb_read_frames),
    duration: Number(info.format.duration),
  };
}
