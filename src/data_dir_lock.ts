/**
 * One gateway per data dir. Two gateways on one store.db and outbox.db would
 * deliver one outbox twice and write one store from two processes, so the
 * first to start holds an OS lock (flock) on the data dir itself for its whole
 * life. A lock on a file in it could be defeated by deleting the file (the next
 * gateway would create a new one and lock that); the directory cannot be
 * removed while it holds the gateway's files, and a second open of it is the
 * same inode. The kernel releases the lock when the process ends, kill -9
 * included, so a crash never leaves a stale lock behind. `gateway.lock` is
 * still locked too (what gateways before this one lock) and holds the PID,
 * which only serves the message the next gateway prints.
 */

/** The lock file's name inside the data dir. */
export const LOCK_FILE = "gateway.lock";

/** Thrown when another process holds the data dir. */
export class DataDirInUseError extends Error {
  constructor(readonly dataDir: string, readonly pid: number | null) {
    super(
      `data dir ${dataDir} is in use by ${pid ? `PID ${pid}` : "another process"} ` +
        `(gateway.data_dir, or GATEWAY_DATA_DIR in the demo config): stop that gateway, ` +
        `or give this one a data dir of its own`,
    );
    this.name = "DataDirInUseError";
  }
}

async function holder(path: string): Promise<number | null> {
  const pid = Number.parseInt(await Deno.readTextFile(path).catch(() => ""), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The held lock on a data dir; {@link DataDirLock.release} or the process's end frees it. */
export class DataDirLock {
  private constructor(
    readonly dataDir: string,
    readonly dir: Deno.FsFile,
    readonly file: Deno.FsFile,
  ) {}

  /** Takes the lock at once or throws {@link DataDirInUseError}; never waits for the holder. */
  static async acquire(dataDir: string): Promise<DataDirLock> {
    const path = `${dataDir}/${LOCK_FILE}`;
    const dir = await Deno.open(dataDir, { read: true });
    if (!await dir.tryLock(true)) {
      dir.close();
      throw new DataDirInUseError(dataDir, await holder(path));
    }
    // Opened without truncation: the holder's PID must still be there to be read.
    const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
    if (!await file.tryLock(true)) {
      const pid = await holder(path);
      file.close();
      dir.close();
      throw new DataDirInUseError(dataDir, pid);
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    return new DataDirLock(dataDir, dir, file);
  }

  /** Frees the lock (the file stays: removing it would race a gateway starting now). */
  release(): void {
    for (const f of [this.file, this.dir]) {
      try {
        f.unlockSync();
        f.close();
      } catch { /* released already */ }
    }
  }
}
