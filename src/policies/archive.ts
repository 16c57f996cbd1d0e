/** Packs a file payload the way its policy asks: as is, gzip, tar, tgz or zip. */
import type { zipSync as ZipSync } from "fflate";
import type { gzipSync as GzipSync } from "node:zlib";

// Loaded on demand: node:zlib and fflate add ~4 MiB to every gateway's memory, and only one
// with storage policies packs files.
let zipSync: typeof ZipSync | undefined;
let gzipSync: typeof GzipSync | undefined;

/** Loads the compressors {@link pack} needs; a source with storage policies awaits it first. */
export async function loadArchivers(): Promise<void> {
  zipSync ??= (await import("fflate")).zipSync;
  gzipSync ??= (await import("node:zlib")).gzipSync;
}

/** Archive formats of the file policy. */
export type Compression = "none" | "gzip" | "tar" | "tgz" | "zip";

/** Compression knobs. */
export interface ArchiveOptions {
  /** 0-9 for gzip, tgz and zip. */
  level: number;
  /** zlib window bits (9-15) for gzip and tgz. */
  windowBits?: number;
  /** Entry name inside tar and zip archives. */
  name: string;
  /** Entry modification time (ms), so the archive bytes are deterministic. */
  mtime: number;
}

/** The object key suffix of each format. */
export const ARCHIVE_EXTENSION: Record<Compression, string> = {
  none: "",
  gzip: ".gz",
  tar: ".tar",
  tgz: ".tgz",
  zip: ".zip",
};

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

/** A one-entry POSIX ustar archive (header, data padded to 512, two zero blocks). */
function tar(data: Uint8Array, name: string, mtime: number): Uint8Array {
  const header = new Uint8Array(512);
  const text = new TextEncoder();
  const put = (s: string, at: number) => header.set(text.encode(s), at);
  put(name.slice(0, 99), 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(data.length, 12), 124);
  put(octal(Math.floor(mtime / 1000), 12), 136);
  put("        ", 148);
  put("0", 156);
  put("ustar\x0000", 257);
  const sum = header.reduce((a, b) => a + b, 0);
  put(octal(sum, 7) + " ", 148);
  const padded = Math.ceil(data.length / 512) * 512;
  const out = new Uint8Array(512 + padded + 1024);
  out.set(header, 0);
  out.set(data, 512);
  return out;
}

/** Packs `data` into the requested format. */
export function pack(data: Uint8Array, compression: Compression, options: ArchiveOptions) {
  if (!zipSync || !gzipSync) throw new Error("pack: loadArchivers() was not awaited first");
  const zip = zipSync, gzipOf = gzipSync;
  const gzip = (b: Uint8Array) =>
    new Uint8Array(gzipOf(b, { level: options.level, windowBits: options.windowBits ?? 15 }));
  switch (compression) {
    case "none":
      return data;
    case "gzip":
      return gzip(data);
    case "tar":
      return tar(data, options.name, options.mtime);
    case "tgz":
      return gzip(tar(data, options.name, options.mtime));
    case "zip":
      return zip({
        [options.name]: [data, { level: options.level as 0, mtime: options.mtime }],
      });
  }
}
