/**
 * A disk whose power can be cut (root only): an ext4 file system (a Raspberry Pi's card, mounted
 * `noatime` as Raspberry Pi OS does) on a loop device over an image file that lives on a small XFS
 * file system of its own (another loop device, reflinks on).
 *
 * The guest ext4 keeps unsynced writes in the kernel's page cache, as on the Pi; only what it has
 * written to its block device is in the image file. A cut stops the writing process (SIGSTOP, every
 * thread: the CPU halts), then takes a reflink copy of the image (`cp --reflink`, one atomic clone
 * under the file's lock, so never half of one write), then kills the process. The copy is what the
 * card held at that instant: the guest's dirty pages, never written, are gone, and whatever ext4
 * had not yet committed in its journal is replayed or dropped when the copy is mounted. Device
 * mapper (dm-flakey, dm-log-writes) is not built into this kernel; this needs only loop devices.
 *
 * Not simulated: a card's own volatile cache and FTL (a cheap card may acknowledge a flush it has
 * not done, or reorder or tear writes inside its erase blocks), torn sectors, and reordering of
 * writes the loop device had already passed on: the copy holds every write that reached the
 * device, in order, which a real card need not.
 */

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${text.trim()}`);
  }
}

/** Why power cuts cannot be simulated here (not root, or a tool missing), or null. */
export function powerCutUnavailable(): string | null {
  if (Deno.uid() !== 0) return "needs root (loop devices and mounts)";
  try {
    Deno.statSync("/dev/loop-control");
  } catch {
    return "no loop devices (/dev/loop-control; a container needs them passed in)";
  }
  for (const tool of ["losetup", "mkfs.xfs", "mkfs.ext4", "mount", "umount", "cp"]) {
    try {
      new Deno.Command(tool, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      return `${tool} not found (Debian: xfsprogs, e2fsprogs, mount)`;
    }
  }
  return null;
}

/** Threads of `pid` that are not stopped yet (/proc/<pid>/task/<tid>/stat state `T`). */
function runningThreads(pid: number): number {
  let running = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state !== "T" && state !== "t" && state !== "Z" && state !== "X") running++;
    } catch { /* the thread ended */ }
  }
  return running;
}

/** The card: `mount` is where the guest ext4 is mounted (the gateway's data dir goes inside). */
export class PowerCutDisk {
  /** Cuts so far (each one's image is `card-<n>.img`). */
  #cuts = 0;

  private constructor(readonly root: string) {}

  /** The mounted card (ext4). */
  get mount(): string {
    return `${this.root}/card`;
  }

  get #outer(): string {
    return `${this.root}/outer`;
  }

  #image(n: number): string {
    return `${this.#outer}/card-${n}.img`;
  }

  /** Makes the XFS holding the images and an empty 256 MiB ext4 card, mounted. */
  static async create(): Promise<PowerCutDisk> {
    const root = await Deno.makeTempDir({ prefix: "power-cut-" });
    const disk = new PowerCutDisk(root);
    await Deno.mkdir(disk.#outer);
    await Deno.mkdir(disk.mount);
    // Sparse files: XFS wants at least 300 MiB; little of it is ever written.
    await sh("truncate", ["-s", "512M", `${root}/outer.img`]);
    await sh("mkfs.xfs", ["-q", "-m", "reflink=1", `${root}/outer.img`]);
    await sh("mount", ["-o", "loop", `${root}/outer.img`, disk.#outer]);
    await sh("truncate", ["-s", "256M", disk.#image(0)]);
    await sh("mkfs.ext4", ["-q", "-F", disk.#image(0)]);
    await sh("mount", ["-o", "loop,noatime", disk.#image(0), disk.mount]);
    return disk;
  }

  /**
   * Power fails: `pid` (the gateway) is stopped in its tracks, the card's content is taken as it
   * stands, and the process is killed. The dirty page cache dies with the old mount.
   */
  async cut(pid: number): Promise<void> {
    Deno.kill(pid, "SIGSTOP");
    // A thread inside a system call (an fsync) stops when the call returns: wait for all.
    for (let i = 0; runningThreads(pid) > 0; i++) {
      if (i > 2000) throw new Error(`process ${pid} did not stop`);
      await new Promise((r) => setTimeout(r, 1));
    }
    this.#cuts++;
    await sh("cp", ["--reflink=always", this.#image(this.#cuts - 1), this.#image(this.#cuts)]);
    Deno.kill(pid, "SIGKILL");
  }

  /**
   * Power returns (after {@link cut} and once the process is gone): the old mount goes (writing
   * back its page cache into the old image, which is then deleted), and the card as it was at the
   * cut is mounted in its place; ext4 replays its journal.
   */
  async powerOn(): Promise<void> {
    await sh("umount", [this.mount]);
    await Deno.remove(this.#image(this.#cuts - 1));
    await sh("mount", ["-o", "loop,noatime", this.#image(this.#cuts), this.mount]);
  }

  /** Unmounts everything (the loop devices go with the mounts) and deletes the files. */
  async destroy(): Promise<void> {
    await sh("umount", [this.mount]).catch(() => {});
    await sh("umount", [this.#outer]).catch(() => {});
    await Deno.remove(this.root, { recursive: true });
  }
}
