import { SettingError } from "../../device_settings.ts";
import { getRequest, HexCommand, HexFlags, type HexMessage, setRequest } from "./hex.ts";

/** Options of {@link HexLink}. */
export interface HexLinkOptions {
  /** How long the device has to answer one request. */
  timeoutMs: number;
  /** Requests waiting their turn at most; more are refused as busy. */
  maxQueued?: number;
}

interface Exchange {
  command: number;
  register: number;
  resolve(msg: HexMessage): void;
  reject(error: Error): void;
}

/**
 * HEX requests over one serial line, one exchange at a time: a request goes out,
 * and the next answer for its register (or the device's frame error) settles it.
 * A request that gets no answer fails once after the timeout; it is never sent
 * again by this link, so a silent device sees one request per caller, not a storm.
 */
export class HexLink {
  #turn: Promise<unknown> = Promise.resolve();
  #queued = 0;
  #current: Exchange | null = null;

  constructor(
    readonly send: (request: string) => Promise<void>,
    readonly options: HexLinkOptions,
  ) {}

  /** Reads a register (the answer's flags are the caller's to judge). */
  get(register: number, options: { timeoutMs?: number } = {}): Promise<HexMessage> {
    return this.#exchange(HexCommand.Get, register, getRequest(register), options.timeoutMs);
  }

  /** Writes a register; rejects unless the device confirms it with no flag set. */
  async set(register: number, raw: number, options: { size: 1 | 2 }): Promise<HexMessage> {
    const answer = await this.#exchange(
      HexCommand.Set,
      register,
      setRequest(register, raw, options),
    );
    const refusal = flagsError(answer.flags ?? 0);
    if (refusal) throw new SettingError("refused", `the device refused the set: ${refusal}`);
    return answer;
  }

  /** Takes a HEX message from the line; true when it settled the exchange in flight. */
  answer(msg: HexMessage): boolean {
    const current = this.#current;
    if (!current) return false;
    if (msg.name === "error") {
      current.reject(new SettingError("refused", "the device answered with a frame error"));
      return true;
    }
    if (msg.name === "unknown") {
      current.reject(new SettingError("refused", "the device does not know this command"));
      return true;
    }
    if (msg.command !== current.command || msg.register !== current.register) return false;
    current.resolve(msg);
    return true;
  }

  #exchange(
    command: number,
    register: number,
    request: string,
    timeoutMs = this.options.timeoutMs,
  ): Promise<HexMessage> {
    if (this.#queued >= (this.options.maxQueued ?? 8)) {
      return Promise.reject(
        new SettingError("busy", "the device's line has too many requests waiting; try again"),
      );
    }
    this.#queued++;
    const run = this.#turn.then(() => this.#once(command, register, request, timeoutMs));
    this.#turn = run.catch(() => {}).finally(() => this.#queued--);
    return run;
  }

  async #once(
    command: number,
    register: number,
    request: string,
    timeoutMs: number,
  ): Promise<HexMessage> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await new Promise<HexMessage>((resolve, reject) => {
        this.#current = { command, register, resolve, reject };
        timer = setTimeout(() => {
          const hex = `0x${register.toString(16).toUpperCase().padStart(4, "0")}`;
          reject(
            new SettingError("timeout", `the device did not answer for ${hex} in ${timeoutMs} ms`),
          );
        }, timeoutMs);
        this.send(request).catch((e) =>
          reject(new SettingError("unavailable", `the request could not be sent: ${e.message}`))
        );
      });
    } finally {
      clearTimeout(timer);
      this.#current = null;
    }
  }
}

/** Words for the flags of a get/set answer; "" when none is set. */
export function flagsError(flags: number): string {
  const words: string[] = [];
  if (flags & HexFlags.UnknownId) words.push("unknown register");
  if (flags & HexFlags.NotSupported) words.push("not supported");
  if (flags & HexFlags.ParameterError) words.push("parameter error (value out of range)");
  if (flags & ~0x07) words.push(`flags 0x${flags.toString(16)}`);
  return words.join(", ");
}
