import assert from "node:assert/strict";
import { imageDimensions } from "../../src/images/dimensions.ts";
import type { ImageFormat } from "../../src/images/ffmpeg.ts";
import { bombPng } from "../helpers/frames.ts";

async function encoded(format: ImageFormat, args: string[] = []): Promise<Uint8Array> {
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=322x202",
      "-frames:v",
      "1",
      ...args,
      "-f",
      "image2pipe",
      "-c:v",
      format === "jpeg" ? "mjpeg" : format === "png" ? "png" : "libwebp",
      "pipe:1",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return out.stdout;
}

Deno.test("width and height come from the header of JPEG, PNG and WebP (lossy and lossless)", async () => {
  const cases: [string, ImageFormat, string[]][] = [
    ["jpeg", "jpeg", []],
    ["jpeg 4:4:4", "jpeg", ["-q:v", "3", "-pix_fmt", "yuvj444p"]],
    ["png", "png", []],
    ["webp", "webp", []],
    ["lossless webp", "webp", ["-lossless", "1"]],
  ];
  for (const [what, format, args] of cases) {
    assert.deepEqual(
      imageDimensions(await encoded(format, args), format),
      { width: 322, height: 202 },
      what,
    );
  }
});

Deno.test("a 40 KB PNG that declares 16000 x 16000 pixels is seen for what it is", () => {
  const png = bombPng(16_000, 16_000);
  assert.ok(png.length < 100_000, `${png.length} bytes`);
  assert.deepEqual(imageDimensions(png, "png"), { width: 16_000, height: 16_000 });
});

Deno.test("truncated or foreign headers give null, never a throw", () => {
  for (const format of ["jpeg", "png", "webp"] as const) {
    assert.equal(imageDimensions(new Uint8Array(0), format), null);
    assert.equal(imageDimensions(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 2]), format), null);
    assert.equal(
      imageDimensions(new TextEncoder().encode("RIFF....WEBPVP9 xxxxxxxxxxxxxxxx"), format),
      null,
    );
  }
});
