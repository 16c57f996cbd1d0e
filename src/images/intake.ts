/**
 * The image side of the storage policies: each image is normalised with
 * ffmpeg, kept by the node's file policy, and added to its timelapse frames on
 * disk; due videos are built and handed to the outbox. Images wait in a short
 * bounded queue (ffmpeg is the slow part), so memory does not grow with frames.
 */
import type { Logger } from "../log.ts";
import type { Envelope } from "../model.ts";
import type { Clock } from "../util/clock.ts";
import type { ImagePolicy } from "./schema.ts";
import type { Video } from "./timelapse.ts";
import { type ComponentStatus, errorMessage } from "../status.ts";
import {
  FFMPEG_MISSING,
  ffmpegVersion,
  IMAGE_EXTENSION,
  type ImageFormat,
  MediaError,
  MediaTimeout,
  normaliseImage,
} from "./ffmpeg.ts";
import { FramesFullError, Timelapse } from "./timelapse.ts";

/** Images waiting for ffmpeg beyond this are dropped (image_backlog_full). */
const MAX_QUEUE = 64;
/** ffmpeg processes normalising at once: one per core, at most 4 (more did not help on 2 cores). */
const CONCURRENCY = Math.max(1, Math.min(4, navigator.hardwareConcurrency));
/** A video that failed to encode this often is given up (its frames counted as dropped). */
const MAX_ATTEMPTS = 3;

/** The parts of a node's policy the intake reads. */
export interface ImageSettings {
  image_policy?: ImagePolicy;
  file_policy?: { prefix: string };
}

/** What the intake asks of its source's storage policies (they turn frames into records). */
export interface ImageKeeper {
  policyOf(node: string): ImageSettings | undefined;
  /** Records keeping a normalised frame (by the node's file policy; none without one). */
  imageFile(
    node: string,
    frame: Uint8Array,
    options: { format: ImageFormat; now: number },
  ): Envelope[];
  /** Records of a built video. */
  video(node: string, video: Video, options: { now: number }): Envelope[];
}

/** What the intake needs from its source. */
export interface ImageIntakeOptions {
  policies: ImageKeeper;
  /** Where waiting frames live. */
  dir: string;
  maxDisk: number;
  /** Hands records to the outbox (in order with the source's other records). */
  append(envelopes: Envelope[]): Promise<void>;
  /** Counts a dropped message for a node. */
  drop(node: string, reason: string, n?: number): void;
  log: Logger;
  status: ComponentStatus;
  /** When videos are due and stamped (the source's clock). */
  clock: Clock;
}

/** Normalises images, keeps frames and builds timelapse videos for one source. */
export class ImageIntake {
  readonly timelapse: Timelapse;
  #chain: Promise<void> = Promise.resolve();
  #queued = 0;
  #running = 0;
  #waiting: (() => void)[] = [];
  #ffmpeg: string | null = null;

  constructor(readonly options: ImageIntakeOptions) {
    this.timelapse = new Timelapse({ dir: options.dir, maxDisk: options.maxDisk });
  }

  /** The ffmpeg version in use, or null when it is missing. */
  get ffmpeg(): string | null {
    return this.#ffmpeg;
  }

  /** Finds ffmpeg (saying so clearly when it is missing) and scans frames left on disk. */
  async open(): Promise<void> {
    this.#ffmpeg = await ffmpegVersion();
    if (!this.#ffmpeg) {
      this.options.status.fail(new Error(FFMPEG_MISSING));
      this.options.log.error(FFMPEG_MISSING);
    }
    await this.timelapse.open();
  }

  /** Queues one image; `ack` runs once its frame is on disk (or it was dropped). */
  accept(
    node: string,
    image: Uint8Array,
    options: { format: ImageFormat; policy: ImageSettings; ts: number; ack: () => void },
  ): void {
    if (!this.#ffmpeg) {
      this.options.drop(node, "ffmpeg_missing");
      return options.ack();
    }
    if (this.#queued >= MAX_QUEUE) {
      this.options.drop(node, "image_backlog_full");
      return options.ack();
    }
    this.#queued++;
    // ffmpeg runs for several images at once; frames are kept in arrival order.
    const frame = this.#normalise(image, options);
    frame.catch(() => {}); // awaited (and its error handled) in #take
    this.#chain = this.#chain.then(() =>
      this.#take(node, frame, { ...options, bytes: image.length })
    )
      .catch((e) => this.#failed(node, e))
      .finally(() => {
        this.#queued--;
        options.ack();
      });
  }

  /** Normalises with at most {@link CONCURRENCY} ffmpeg processes at a time. */
  async #normalise(
    image: Uint8Array,
    options: { format: ImageFormat; policy: ImageSettings },
  ): Promise<Uint8Array> {
    while (this.#running >= CONCURRENCY) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#running++;
    try {
      return await normaliseImage(image, {
        from: options.format,
        policy: options.policy.image_policy!,
      });
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  async #take(
    node: string,
    normalised: Promise<Uint8Array>,
    options: { format: ImageFormat; policy: ImageSettings; ts: number; bytes: number },
  ): Promise<void> {
    const ip = options.policy.image_policy!;
    let frame: Uint8Array;
    try {
      frame = await normalised;
    } catch (e) {
      if (!(e instanceof MediaError)) throw e;
      this.options.drop(node, e instanceof MediaTimeout ? "image_timeout" : "corrupt_image");
      this.options.log.warn("image skipped: ffmpeg could not decode it", {
        node,
        bytes: options.bytes,
        error: errorMessage(e),
      });
      return;
    }
    const { policies } = this.options;
    const envelopes = policies.imageFile(node, frame, { format: ip.format, now: options.ts });
    if (envelopes.length > 0) await this.options.append(envelopes);
    if (!ip.timelapse) return;
    try {
      await this.timelapse.add(node, {
        ts: options.ts,
        ext: IMAGE_EXTENSION[ip.format],
        bytes: frame,
      });
    } catch (e) {
      if (!(e instanceof FramesFullError)) throw e;
      this.options.drop(node, "frames_disk_full");
      return;
    }
    const now = this.options.clock.now();
    if (this.timelapse.due(node, ip.timelapse, now)) await this.#build(node, options.policy);
  }

  /** An unexpected failure (disk, outbox): counted and logged; the intake carries on. */
  #failed(node: string, e: unknown): void {
    this.options.drop(node, "image_not_stored");
    this.options.status.fail(e);
    this.options.log.error("image not stored", { node, error: errorMessage(e) });
  }

  /** Builds every video that is due (span reached, or half built before a restart). */
  tick(now: number = this.options.clock.now()): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      for (const node of this.timelapse.nodes()) {
        const policy = this.options.policies.policyOf(node);
        const settings = policy?.image_policy?.timelapse;
        if (policy && settings && this.timelapse.due(node, settings, now)) {
          await this.#build(node, policy);
        }
      }
    }).catch((e) => {
      this.options.status.fail(e);
      this.options.log.error("timelapse check failed", { error: errorMessage(e) });
    });
    return this.#chain;
  }

  async #build(node: string, policy: ImageSettings): Promise<void> {
    if (!this.#ffmpeg) return;
    const settings = policy.image_policy!.timelapse!;
    try {
      const video = await this.timelapse.build(node, settings, {
        prefix: policy.file_policy?.prefix ?? "",
      });
      const now = this.options.clock.now();
      await this.options.append(this.options.policies.video(node, video, { now }));
      await this.timelapse.finish(node);
      this.options.status.count("videos");
      this.options.log.info("timelapse video built", {
        node,
        key: video.key,
        frames: video.frames,
        bytes: video.bytes.length,
      });
    } catch (e) {
      const attempts = await this.timelapse.attempts(node);
      this.options.log.warn("timelapse video not built; will retry", {
        node,
        attempts,
        error: errorMessage(e),
      });
      if (attempts >= MAX_ATTEMPTS) {
        const frames = this.timelapse.usage().nodes[node] as { frames: number } | undefined;
        this.options.drop(node, "timelapse_failed");
        this.options.log.error("timelapse video given up after repeated failures", {
          node,
          waiting_frames: frames?.frames,
        });
        await this.timelapse.finish(node);
      }
    }
  }

  /** Waits for queued images and builds in progress. */
  async close(): Promise<void> {
    await this.#chain;
  }
}
