/** Test JPEG frames made by ffmpeg (its test pattern, a different picture per frame). */
import { deflateSync } from "node:zlib";

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

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const body = new Uint8Array([...new TextEncoder().encode(type), ...data]);
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(body, 4);
  view.setUint32(8 + data.length, crc32(body));
  return out;
}

/**
 * A valid PNG of width x height black pixels (1-bit grayscale) that compresses to
 * a few tens of KB: a decompression bomb for a decoder that trusts it.
 */
export function bombPng(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, grayscale, deflate, no filter, no interlace
  const raw = new Uint8Array(height * (1 + Math.ceil(width / 8))); // filter byte + zero pixels
  const idat = deflateSync(raw, { level: 9 });
  return new Uint8Array([
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...chunk("IHDR", ihdr),
    ...chunk("IDAT", idat),
    ...chunk("IEND", new Uint8Array(0)),
  ]);
}
