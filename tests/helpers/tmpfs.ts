/** A tiny tmpfs (root only) to make the disk fill up for real. */

/** Whether this process may mount a tmpfs (tests needing one are skipped otherwise). */
export const canMount = Deno.uid() === 0;

/** Mounts a tmpfs of `size` (e.g. `1m`) on a new temp dir, runs `fn`, unmounts. */
export async function withTmpfs<T>(size: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "tmpfs-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
    stderr: "piped",
  }).output();
  if (!mount.success) {
    throw new Error(`mount tmpfs failed: ${new TextDecoder().decode(mount.stderr)}`);
  }
  try {
    return await fn(dir);
  } finally {
    await new Deno.Command("umount", { args: [dir] }).output();
  }
}
