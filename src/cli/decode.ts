import { VeDirectStream } from "../sources/vedirect/stream.ts";

/**
 * Decodes a raw VE.Direct capture (file or stdin) to JSON lines, one device
 * record per line, then prints the counters. Returns the counters.
 */
export async function decodeCapture(
  input: ReadableStream<Uint8Array>,
  options: { write: (line: string) => void; validateChecksum?: boolean },
): Promise<Record<string, number>> {
  const stream = new VeDirectStream({
    validateChecksum: options.validateChecksum,
    // A capture has no timing: every block boundary is trusted after the first one.
    gapMs: Number.MAX_SAFE_INTEGER,
    onRecord: (r) => {
      options.write(JSON.stringify({
        ts: new Date(r.ts).toISOString(),
        product: r.tags.product ?? null,
        serial: r.tags.serial ?? null,
        fields: r.fields,
      }));
    },
    onHex: (m) => {
      options.write(JSON.stringify({
        hex: m.name,
        register: m.register !== undefined ? `0x${m.register.toString(16).toUpperCase()}` : null,
        flags: m.flags ?? null,
        value: m.value ?? null,
      }));
    },
  });
  let first = true;
  for await (const chunk of input) {
    // A capture that starts with a line end starts at a block boundary: its first block is whole.
    if (first && chunk.length > 0) {
      if (chunk[0] === 0x0d || chunk[0] === 0x0a) stream.idle();
      first = false;
    }
    stream.push(chunk, Date.now());
  }
  stream.idle();
  return { ...stream.counters };
}
