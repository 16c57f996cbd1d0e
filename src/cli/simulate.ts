import { type Clock, systemClock } from "../util/clock.ts";
import { SerialLine } from "../sources/vedirect/port.ts";
import { DeviceSimulator, type SimulatedDevice } from "../sources/vedirect/simulator.ts";

/** Options of {@link simulateToPort}. */
export interface SimulateOptions {
  device: SimulatedDevice;
  intervalMs: number;
  /** Stop after this many frames (0 = until the signal aborts). */
  count: number;
  seed?: number;
  signal?: AbortSignal;
  /** The device's time (its simulated sun follows it); the system clock by default. */
  clock?: Clock;
  /** Called with each HEX request read from the port (before it is answered). */
  onRequest?(request: string): void;
  /** Never answer HEX requests (a device that only speaks the text protocol, or a dead one). */
  silent?: boolean;
}

/** Answers each HEX request read from `line` with what `answer` returns (null: none) until it closes. */
export async function answerHexRequests(
  line: SerialLine,
  answer: (request: string) => string | null,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  try {
    for (;;) {
      const bytes = await line.read();
      if (bytes === null) return;
      pending += decoder.decode(bytes);
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const request = pending.slice(pending.lastIndexOf(":", nl), nl + 1);
        pending = pending.slice(nl + 1);
        if (!request.startsWith(":")) continue;
        const reply = answer(request);
        if (reply) await line.write(reply);
      }
    }
  } catch {
    // port closed
  }
}

/**
 * Plays a simulated device on a serial port or pty: writes a frame every
 * interval and answers HEX requests read from the port.
 */
export async function simulateToPort(path: string, options: SimulateOptions): Promise<number> {
  const sim = new DeviceSimulator(options.device, { seed: options.seed });
  const clock = options.clock ?? systemClock;
  const line = await SerialLine.open(path, { baud: 19200 });
  const replies = answerHexRequests(line, (request) => {
    options.onRequest?.(request);
    return options.silent ? null : sim.reply(request, clock.now());
  });
  let frames = 0;
  try {
    while (!options.signal?.aborted && (options.count === 0 || frames < options.count)) {
      await line.write(sim.frame(clock.now()));
      frames++;
      await clock.sleep(options.intervalMs, { signal: options.signal });
    }
  } finally {
    await line.close();
    await replies;
  }
  return frames;
}
