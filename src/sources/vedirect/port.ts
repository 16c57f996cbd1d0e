/** A serial port opened as a file: stty sets the line discipline, Deno.open reads and writes. */

const encoder = new TextEncoder();

/** Sets `path` to raw 8N1 at `baud` with stty (npm:serialport never delivers data under Deno). */
export async function configureTty(path: string, baud: number): Promise<void> {
  const args = ["-F", path, String(baud), "raw", "-echo", "cs8", "-cstopb", "-parenb", "-crtscts"];
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("stty", { args, stdout: "null", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(`cannot run stty to configure ${path}: ${(e as Error).message}`);
  }
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`stty could not configure ${path}: ${msg}`);
  }
}

/**
 * An open serial line. Reading and writing use two handles on the tty: Deno
 * serialises operations on one file, so a write would wait behind a pending read.
 */
export class SerialLine {
  #closed = false;
  private constructor(
    readonly path: string,
    readonly reader: Deno.FsFile,
    readonly writer: Deno.FsFile,
  ) {}

  /** Opens and configures a tty (a `/dev/serial/by-id/...` link is followed on every open). */
  static async open(path: string, options: { baud: number }): Promise<SerialLine> {
    await configureTty(path, options.baud);
    const reader = await Deno.open(path, { read: true });
    try {
      return new SerialLine(path, reader, await Deno.open(path, { write: true }));
    } catch (e) {
      reader.close();
      throw e;
    }
  }

  /** Reads into `buf`; null at end of stream (the device went away). */
  read(buf: Uint8Array): Promise<number | null> {
    return this.reader.read(buf);
  }

  /** Writes bytes (a frame, a HEX request) to the device. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.writer.write(bytes.subarray(off));
  }

  /** Closes both handles; a pending read ends with an error. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of [this.reader, this.writer]) {
      try {
        f.close();
      } catch {
        // already gone with the device
      }
    }
  }
}
