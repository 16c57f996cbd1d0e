/**
 * A serial port. Deno refuses Deno.open() on device files without --allow-all,
 * so the port is read by a `cat` child and written by a `dd` child; stty sets
 * the line discipline. None of the three can run other programs, which keeps
 * the gateway's permissions narrow (`--allow-run=stty,cat,dd`).
 */

const encoder = new TextEncoder();

async function run(cmd: string, args: string[], what: string): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
      .output();
  } catch (e) {
    throw new Error(`cannot run ${cmd} to ${what}: ${(e as Error).message}`);
  }
  if (!out.success) {
    throw new Error(`${cmd} could not ${what}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Sets `path` to raw 8N1 at `baud` (npm:serialport never delivers data under Deno). */
export async function configureTty(path: string, baud: number): Promise<void> {
  const args = ["-F", path, String(baud), "raw", "-echo", "cs8", "-cstopb", "-parenb", "-crtscts"];
  try {
    await run("stty", args, `configure ${path}`);
  } catch (e) {
    throw new Error(withHint((e as Error).message));
  }
}

/** What an owner does about the two usual failures: no such port, or no right to it. */
function withHint(message: string): string {
  if (/No such file or directory/i.test(message)) {
    return `${message} (is the cable plugged in? \`ls -l /dev/serial/by-id/\` lists the ` +
      "adapters present; a Pi's own UART needs enabling: README \"VE.Direct on the Pi's UART\")";
  }
  if (/Permission denied|Operation not permitted/i.test(message)) {
    return `${message} (the user needs the dialout group: sudo usermod -aG dialout $USER, then ` +
      "log in again; the service has it, and allows ttyUSB/ttyACM only unless a drop-in adds more)";
  }
  return message;
}

/** An open serial line: bytes in from `cat`, bytes out through `dd`. */
export class SerialLine {
  #closed = false;
  readonly #chunks: ReadableStreamDefaultReader<Uint8Array>;
  readonly #out: WritableStreamDefaultWriter<Uint8Array>;

  private constructor(
    readonly path: string,
    readonly reader: Deno.ChildProcess,
    readonly writer: Deno.ChildProcess,
  ) {
    this.#chunks = reader.stdout.getReader();
    this.#out = writer.stdin.getWriter();
  }

  /** Opens and configures a tty (a `/dev/serial/by-id/...` link is followed on every open). */
  static async open(path: string, options: { baud: number }): Promise<SerialLine> {
    await configureTty(path, options.baud); // also fails fast when the device is missing
    const reader = new Deno.Command("cat", {
      args: [path],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    let writer: Deno.ChildProcess;
    try {
      writer = new Deno.Command("dd", {
        args: [`of=${path}`, "bs=1", "conv=notrunc", "status=none"],
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } catch (e) {
      reader.kill();
      await reader.status;
      throw e;
    }
    return new SerialLine(path, reader, writer);
  }

  /** The next bytes from the device; null at end of stream (the device went away). */
  async read(): Promise<Uint8Array | null> {
    const { value, done } = await this.#chunks.read();
    return done ? null : value;
  }

  /** Writes bytes (a frame, a HEX request) to the device. */
  async write(data: string | Uint8Array): Promise<void> {
    await this.#out.write(typeof data === "string" ? encoder.encode(data) : data);
  }

  /** Stops both children; a pending read ends. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const child of [this.reader, this.writer]) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone with the device
      }
    }
    await this.#out.close().catch(() => {});
    await this.#chunks.cancel().catch(() => {});
    await Promise.all([this.reader.status, this.writer.status]);
  }
}
