/**
 * Files and videos as the policies keep them: an object under a deterministic
 * key (LastValue, an NRecords ring of slots, TimeWindow with its expiry) and a
 * `file_entry` / `timelapse_entry` row describing it.
 */
import { Buffer } from "node:buffer";
import { IMAGE_EXTENSION, IMAGE_TYPE, type ImageFormat } from "../images/ffmpeg.ts";
import type { Video } from "../images/timelapse.ts";
import type { Envelope } from "../model.ts";
import { ARCHIVE_EXTENSION, pack } from "./archive.ts";
import type { Policy } from "./schema.ts";
import type { NodeState } from "./state.ts";
import { pathSegment } from "../names.ts";

const ARCHIVE_TYPES: Record<string, string> = {
  gzip: "application/gzip",
  tar: "application/x-tar",
  tgz: "application/gzip",
  zip: "application/zip",
};

/** The object and its file_entry row for a file (or a normalised frame) of a node. */
export function fileEnvelopes(
  node: string,
  message: Uint8Array,
  options: { policy: Policy; state: NodeState; format: ImageFormat | null; now: number },
): Envelope[] {
  const { policy, state: s, format, now } = options;
  const fp = policy.file_policy!;
  const ts = s.lastTs = Math.max(now, s.lastTs + 1);
  const [ext, type] = format
    ? [IMAGE_EXTENSION[format], IMAGE_TYPE[format]]
    : [".bin", "application/octet-stream"];
  const body = pack(message, fp.compression, {
    level: fp.level,
    windowBits: fp.window_bits,
    name: `${ts}${ext}`,
    mtime: ts,
  });
  const suffix = ext + ARCHIVE_EXTENSION[fp.compression];
  // The node id comes from a topic: it must not lead the key out of its place ("..").
  const dir = pathSegment(node);
  const rule = policy.processing_policy;
  let key: string;
  let maxCount = 0;
  let expires = 0;
  switch (rule?.policy_type) {
    case "LastValue":
      key = `${dir}/last${suffix}`;
      maxCount = 1;
      break;
    case "NRecords":
      // A ring of N slots: the N newest files exist, older ones are overwritten.
      key = `${dir}/n/${s.seq % rule.n_records_count}${suffix}`;
      maxCount = rule.n_records_count;
      break;
    case "TimeWindow":
      expires = ts + rule.time_window_size * 1000;
      key = `${dir}/window/${expires}-${ts}${suffix}`;
      break;
    default:
      key = `${dir}/all/${ts}${suffix}`;
  }
  key = fp.prefix + key;
  s.seq++;
  s.stored += message.length;
  const contentType = ARCHIVE_TYPES[fp.compression] ?? type;
  return [
    {
      kind: "file",
      data: {
        node,
        ts,
        key,
        content_type: contentType,
        body: Buffer.from(body).toString("base64"),
        expires,
      },
    },
    {
      kind: "entry",
      data: {
        table: "file_entry",
        node,
        ts,
        object_key: key,
        content_type: contentType,
        state_type: format ? "Image" : "Binary",
        compression: fp.compression,
        max_count: maxCount,
        expires,
        size: message.length,
        stored_size: body.length,
      },
    },
  ];
}

/** The video object and its timelapse_entry row; its bytes count as stored for the node. */
export function videoEnvelopes(
  node: string,
  video: Video,
  options: { state: NodeState; now: number },
): Envelope[] {
  const s = options.state;
  s.stored += video.bytes.length;
  return [
    {
      kind: "file",
      data: {
        node,
        ts: video.last,
        key: video.key,
        content_type: "video/mp4",
        body: Buffer.from(video.bytes).toString("base64"),
        expires: 0,
      },
    },
    {
      kind: "entry",
      data: {
        table: "timelapse_entry",
        node,
        ts: options.now,
        object_key: video.key,
        first: video.first,
        last: video.last,
        frames: video.frames,
        duration: video.duration,
        size: video.bytes.length,
      },
    },
  ];
}
