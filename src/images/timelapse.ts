/**
 * Timelapse frames waiting on disk, per node, until a video is due; then the
 * video is built from them. Layout under the source's directory:
 *
 *   <node>/frames/<ms><ext>          frames waiting (written to a temp name, fsynced, renamed)
 *   <node>/building/manifest.json    the video being built: its frames' times and key
 *   <node>/building/000001<ext>...   those frames, numbered for ffmpeg
 *   <node>/building/video.mp4        the encoded video, until the outbox took it
 *
 * The manifest is written before any frame moves, so a restart at any point
 * finishes the same video with the same key; frames are deleted only after the
 * video is in the outbox. Nothing of a frame is held in memory.
 */
import { encodeTimelapse } from "./ffmpeg.ts";
import { fromSegment, pathSegment } from "../names.ts";

/** When a node's frames become a video, and what it looks like. */
export interface TimelapseSettings {
  frames: number;
  max_bytes: number;
  span: number;
  fps: number;
  width: number;
  height: number;
  crf: number;
}

/** A built video, ready for the outbox. */
export interface Video {
  node: string;
  key: string;
  first: number;
  last: number;
  frames: number;
  /** Seconds of video. */
  duration: number;
  bytes: Uint8Array;
}

interface Manifest {
  key: string;
  ext: string;
  /** The frames' times (ms), oldest first. */
  frames: number[];
  fps: number;
  attempts: number;
}

interface NodeFrames {
  count: number;
  bytes: number;
  first: number;
  building: boolean;
}

/** The frame store is over its disk bound: the frame was not kept. */
export class FramesFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FramesFullError";
  }
}

const FRAME = /^(\d+)(\.[a-z]+)$/;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A node id as a directory name: one safe path segment (never `..`, never a
 * `/`) with `~` escapes and no `%`, which ffmpeg would read as part of the
 * frame number pattern.
 */
function dirName(node: string): string {
  return pathSegment(node);
}

/** The node of a directory (also of those named by earlier versions: encodeURIComponent, `~`). */
function nodeName(dir: string): string {
  try {
    return decodeURIComponent(dir.replace(/~/g, "%"));
  } catch {
    return fromSegment(dir);
  }
}

/** Waiting frames of every node of one source, bounded in bytes. */
export class Timelapse {
  #nodes = new Map<string, NodeFrames>();

  constructor(readonly options: { dir: string; maxDisk: number }) {}

  #dir(node: string): string {
    return `${this.options.dir}/${dirName(node)}`;
  }

  /** Scans the frames left on disk (after a restart) so usage and due times are right. */
  async open(): Promise<void> {
    await Deno.mkdir(this.options.dir, { recursive: true });
    for await (const entry of Deno.readDir(this.options.dir)) {
      if (entry.isDirectory) await this.#scan(nodeName(entry.name));
    }
  }

  /** Reads one node's waiting and half-built frames from disk into its figures. */
  async #scan(node: string): Promise<void> {
    const n: NodeFrames = { count: 0, bytes: 0, first: Infinity, building: false };
    for (const sub of ["frames", "building"]) {
      const dir = `${this.#dir(node)}/${sub}`;
      if (!(await exists(dir))) continue;
      if (sub === "building") n.building = await exists(`${dir}/manifest.json`);
      for await (const f of Deno.readDir(dir)) {
        const m = FRAME.exec(f.name);
        if (!m || !f.isFile) continue;
        n.bytes += (await Deno.stat(`${dir}/${f.name}`)).size;
        if (sub === "frames") {
          n.count++;
          n.first = Math.min(n.first, Number(m[1]));
        }
      }
    }
    this.#nodes.set(node, n);
  }

  /** Bytes of all nodes' frames on disk. */
  #total(): number {
    let bytes = 0;
    for (const n of this.#nodes.values()) bytes += n.bytes;
    return bytes;
  }

  /** Frames and bytes waiting on disk, in all and per node. */
  usage(): { frames: number; bytes: number; max_bytes: number; nodes: Record<string, unknown> } {
    let frames = 0;
    const nodes: Record<string, unknown> = {};
    const bytes = this.#total();
    for (const [node, n] of this.#nodes) {
      frames += n.count;
      nodes[node] = { frames: n.count, bytes: n.bytes, building: n.building };
    }
    return { frames, bytes, max_bytes: this.options.maxDisk, nodes };
  }

  /** Nodes with frames waiting or a video half built. */
  nodes(): string[] {
    return [...this.#nodes].filter(([, n]) => n.count > 0 || n.building).map(([k]) => k);
  }

  /** Keeps one frame on disk (durably) before the message is acknowledged. */
  async add(node: string, frame: { ts: number; ext: string; bytes: Uint8Array }): Promise<void> {
    const used = this.#total();
    if (used + frame.bytes.length > this.options.maxDisk) {
      throw new FramesFullError(
        `timelapse frames use ${used} of ${this.options.maxDisk} bytes (frames_max_disk)`,
      );
    }
    const dir = `${this.#dir(node)}/frames`;
    await Deno.mkdir(dir, { recursive: true });
    const path = `${dir}/${frame.ts}${frame.ext}`;
    const file = await Deno.open(`${path}.tmp`, { write: true, create: true, truncate: true });
    try {
      try {
        // write() may take only part of the bytes; writeAll semantics by hand.
        for (let off = 0; off < frame.bytes.length;) {
          off += await file.write(frame.bytes.subarray(off));
        }
        await file.sync();
      } finally {
        file.close();
      }
      await Deno.rename(`${path}.tmp`, path);
    } catch (e) {
      // A full disk leaves no partial frame behind.
      await Deno.remove(`${path}.tmp`).catch(() => {});
      throw e;
    }
    let n = this.#nodes.get(node);
    if (!n) this.#nodes.set(node, n = { count: 0, bytes: 0, first: Infinity, building: false });
    n.count++;
    n.bytes += frame.bytes.length;
    n.first = Math.min(n.first, frame.ts);
  }

  /** Whether the node's frames make a video now (count, bytes or span reached; or one half built). */
  due(node: string, settings: TimelapseSettings, now: number): boolean {
    const n = this.#nodes.get(node);
    if (!n) return false;
    if (n.building) return true;
    if (n.count === 0) return false;
    return n.count >= settings.frames || n.bytes >= settings.max_bytes ||
      (n.count >= 2 && now - n.first >= settings.span);
  }

  /**
   * Builds the node's video (or finishes the one a restart interrupted). Call
   * {@link finish} once the outbox holds it. Throws when ffmpeg fails; the
   * frames stay and the next call retries.
   */
  async build(
    node: string,
    settings: TimelapseSettings,
    options: { prefix: string },
  ): Promise<Video> {
    const dir = this.#dir(node);
    const building = `${dir}/building`;
    const manifestPath = `${building}/manifest.json`;
    let manifest: Manifest;
    if (await exists(manifestPath)) {
      manifest = JSON.parse(await Deno.readTextFile(manifestPath));
    } else {
      const frames: { ts: number; ext: string }[] = [];
      for await (const f of Deno.readDir(`${dir}/frames`)) {
        const m = FRAME.exec(f.name);
        if (m && f.isFile) frames.push({ ts: Number(m[1]), ext: m[2] });
      }
      frames.sort((a, b) => a.ts - b.ts);
      const chosen = frames.slice(0, settings.frames);
      const ext = chosen[0].ext;
      const picked = chosen.filter((f) => f.ext === ext).map((f) => f.ts);
      manifest = {
        key: `${options.prefix}${pathSegment(node)}/timelapse/${picked[0]}-${
          picked[picked.length - 1]
        }.mp4`,
        ext,
        frames: picked,
        fps: settings.fps,
        attempts: 0,
      };
      await Deno.mkdir(building, { recursive: true });
      await Deno.writeTextFile(`${manifestPath}.tmp`, JSON.stringify(manifest));
      await Deno.rename(`${manifestPath}.tmp`, manifestPath);
      this.#nodes.get(node)!.building = true;
    }
    // Move the frames (again, after a restart: the ones already moved are skipped).
    for (const [i, ts] of manifest.frames.entries()) {
      const from = `${dir}/frames/${ts}${manifest.ext}`;
      const to = `${building}/${String(i + 1).padStart(6, "0")}${manifest.ext}`;
      if (await exists(from)) await Deno.rename(from, to);
    }
    const video = `${building}/video.mp4`;
    if (!(await exists(video))) {
      manifest.attempts++;
      await Deno.writeTextFile(manifestPath, JSON.stringify(manifest));
      await encodeTimelapse(building, `${video}.tmp`, {
        ext: manifest.ext,
        fps: manifest.fps,
        width: settings.width,
        height: settings.height,
        crf: settings.crf,
      });
      await Deno.rename(`${video}.tmp`, video);
    }
    const bytes = await Deno.readFile(video);
    return {
      node,
      key: manifest.key,
      first: manifest.frames[0],
      last: manifest.frames[manifest.frames.length - 1],
      frames: manifest.frames.length,
      duration: manifest.frames.length / manifest.fps,
      bytes,
    };
  }

  /** How often the node's current video failed to encode. */
  async attempts(node: string): Promise<number> {
    try {
      const m: Manifest = JSON.parse(
        await Deno.readTextFile(`${this.#dir(node)}/building/manifest.json`),
      );
      return m.attempts;
    } catch {
      return 0;
    }
  }

  /** Deletes the built video and its frames (the outbox holds the video now). */
  async finish(node: string): Promise<void> {
    await Deno.remove(`${this.#dir(node)}/building`, { recursive: true }).catch(() => {});
    await this.#scan(node);
  }
}
