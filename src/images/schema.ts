/** How a node's images are kept: normalisation box and quality, limits, timelapse videos. */
import { z } from "zod";
import { duration, size } from "../config_values.ts";

/** When a timelapse video is built, and how. */
export const timelapseSchema = z.strictObject({
  /** A video is built once this many frames wait... */
  frames: z.number().int().min(2).max(100_000).default(300),
  /** ...or they take this much disk... */
  max_bytes: size.default(32 * 1024 * 1024),
  /** ...or this long has passed since the first of them. */
  span: duration.default(3_600_000),
  fps: z.number().int().min(1).max(60).default(10),
  /** The video's frame size (frames are scaled into it, letterboxed). */
  width: z.number().int().min(16).max(4096).multipleOf(2).default(640),
  height: z.number().int().min(16).max(4096).multipleOf(2).default(480),
  /** x264 constant rate factor: lower is better and larger. */
  crf: z.number().int().min(0).max(51).default(28),
});

/** A node's image settings. */
export const imageSchema = z.strictObject({
  /** Format frames are stored in. */
  format: z.enum(["jpeg", "webp", "png"]).default("jpeg"),
  /** 1-100 for jpeg and webp. */
  quality: z.number().int().min(1).max(100).default(75),
  /** A box to fit frames into (`inside`) or to crop them to (`cover`). */
  width: z.number().int().min(16).max(8192).optional(),
  height: z.number().int().min(16).max(8192).optional(),
  fit: z.enum(["inside", "cover"]).default("inside"),
  /** Larger images are refused before decoding (over_max_size). */
  max_size: size.default(5 * 1024 * 1024),
  /**
   * Images whose header declares more pixels are refused before decoding (over_max_pixels):
   * a small file can declare a huge image. 40 MP takes an 8K frame.
   */
  max_pixels: z.number().int().min(1).max(1_000_000_000).default(40_000_000),
  /** ffmpeg is stopped after this long on one image (image_timeout). */
  timeout: duration.default(30_000),
  /** Accumulate frames on disk and turn them into videos. */
  timelapse: timelapseSchema.optional(),
});

/** A node's image settings (parsed). */
export type ImagePolicy = z.output<typeof imageSchema>;
