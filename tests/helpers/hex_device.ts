/**
 * A VE.Direct device on the far end of a pty whose answers to HEX Sets are scripted: late, with
 * a bad checksum, with a value of its own (clamped), refused, or none at all. It sends the
 * simulator's text frames (so the gateway knows what it is) and answers Gets from its registers.
 */
import { answerHexRequests } from "../../src/cli/simulate.ts";
import {
  decodeHex,
  HexCommand,
  HexFlags,
  registerResponse,
} from "../../src/sources/vedirect/hex.ts";
import { SerialLine } from "../../src/sources/vedirect/port.ts";
import { DeviceSimulator } from "../../src/sources/vedirect/simulator.ts";
import { settingsOf } from "../../src/victron/settings.ts";

/** How the device takes a Set. */
export interface SetScript {
  /** The raw value it keeps, from the one asked and the one it had (default: the one asked). */
  keep?(asked: number, had: number): number;
  /** How its answer comes: at once, `lateMs` later, with a bad checksum, or never. */
  answer?: "now" | "late" | "bad_checksum" | "never";
  lateMs?: number;
  /** Flags in the answer (a refusal: HexFlags.ParameterError). */
  flags?: number;
  /** After the Set it answers no HEX at all (the line went deaf). */
  deafAfter?: boolean;
}

/** A scripted device playing on `path` until closed. */
export interface HexDevice {
  sim: DeviceSimulator;
  /** The HEX requests it read, in order. */
  requests: string[];
  /** How the next Sets are answered. */
  script: SetScript;
  close(): Promise<void>;
}

const SET = HexCommand.Set;

/** Changes the checksum of a HEX line (`:...CC\n`) so that it no longer adds up to 0x55. */
function badChecksum(line: string): string {
  const body = line.trimEnd();
  const sum = (parseInt(body.slice(-2), 16) + 1) & 0xff;
  return `${body.slice(0, -2)}${sum.toString(16).toUpperCase().padStart(2, "0")}\n`;
}

/** Starts a device of `kind` on `path`, writing a frame every `intervalMs`. */
export async function playHexDevice(
  path: string,
  options: { kind: "mppt" | "bmv"; intervalMs: number },
): Promise<HexDevice> {
  const sim = new DeviceSimulator(options.kind);
  const specs = settingsOf(options.kind === "mppt" ? "charger" : "monitor");
  const line = await SerialLine.open(path, { baud: 19200 });
  const device: HexDevice = { sim, requests: [], script: {}, close: async () => {} };
  let deaf = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const answerSet = (register: number, asked: number): string | null => {
    const script = device.script;
    const spec = specs.find((s) => s.register === register);
    if (!spec) return registerResponse(SET, register, { size: 0, flags: HexFlags.UnknownId });
    const had = sim.settings.get(register)!;
    const kept = script.keep?.(asked, had) ?? asked;
    sim.settings.set(register, kept);
    if (script.deafAfter) deaf = true;
    const reply = registerResponse(SET, register, {
      value: kept,
      size: spec.size,
      flags: script.flags ?? 0,
    });
    if (script.answer === "never") return null;
    if (script.answer === "bad_checksum") return badChecksum(reply);
    if (script.answer === "late") {
      const timer = setTimeout(() => {
        timers.delete(timer);
        void line.write(reply).catch(() => {});
      }, script.lateMs ?? 1000);
      timers.add(timer);
      return null;
    }
    return reply;
  };
  const replies = answerHexRequests(line, (request) => {
    device.requests.push(request.trim());
    if (deaf) return null;
    const msg = decodeHex(request.trim().slice(1));
    return !("error" in msg) && msg.command === SET && msg.register !== undefined
      ? answerSet(msg.register, msg.value ?? 0)
      : sim.reply(request, Date.now());
  });
  const stop = new AbortController();
  const frames = (async () => {
    while (!stop.signal.aborted) {
      await line.write(sim.frame(Date.now())).catch(() => {});
      await new Promise((r) => setTimeout(r, options.intervalMs));
    }
  })();
  device.close = async () => {
    stop.abort();
    for (const t of timers) clearTimeout(t);
    await frames;
    await line.close();
    await replies;
  };
  return device;
}
