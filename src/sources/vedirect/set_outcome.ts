/**
 * What a HEX Set did, judged by the device rather than by its answer alone. A device may answer
 * late (after the timeout), with a bad checksum (the answer is dropped), or with another value
 * than the one asked (it clamped it): in each case the register is read back (a few Gets,
 * bounded) and the outcome says what the device holds.
 */
import { SettingError, type SettingOutcome } from "../../device_settings.ts";
import { flagsError, type HexLink } from "./hex_link.ts";

/** Gets sent at most to learn what the device holds after a Set it did not plainly confirm. */
export const READ_BACK_ATTEMPTS = 3;

/** A Set's outcome and the raw value the device holds (null when it could not be read). */
export interface SetJudgement {
  outcome: SettingOutcome;
  held: number | null;
  /** What the device's answer to the Set was, in words (for the error and the log). */
  answer: string;
  /** The device refused the Set with a flag. */
  refused: boolean;
}

/**
 * Sends one Set of `raw` to `register` and judges it: `applied` (the device holds `raw`),
 * `clamped` (another value), `failed` (still `before`), `unknown` (no readable answer). Rejects,
 * with nothing sent, only when the request could not go out (the line busy or closed).
 */
export async function judgeSet(
  link: HexLink,
  register: number,
  options: { raw: number; before: number | null; size: 1 | 2; attempts?: number },
): Promise<SetJudgement> {
  const { raw, before } = options;
  let answer: string;
  let refused = false;
  try {
    const echo = await link.set(register, raw, { size: options.size });
    if (echo.value === raw) return { outcome: "applied", held: raw, answer: "confirmed", refused };
    answer = echo.value === undefined
      ? "its answer had no value"
      : `its answer carried another value, raw ${echo.value}`;
  } catch (e) {
    if (!(e instanceof SettingError)) throw e;
    // Nothing went out: nothing to judge (the caller's error says why).
    if (e.reason === "busy" || e.reason === "unavailable") throw e;
    refused = e.reason === "refused";
    answer = e.reason === "timeout"
      ? "no readable answer in time: late, or a bad checksum"
      : e.message;
  }
  const held = await readBack(link, register, options.attempts ?? READ_BACK_ATTEMPTS);
  let outcome: SettingOutcome;
  if (held === null) outcome = "unknown";
  else if (held === raw) outcome = "applied";
  else if (held === before) outcome = "failed";
  else outcome = "clamped";
  return { outcome, held, answer, refused };
}

/** The register's value, read with up to `attempts` Gets; null when none gave one. */
async function readBack(link: HexLink, register: number, attempts: number): Promise<number | null> {
  for (let i = 0; i < attempts; i++) {
    try {
      const got = await link.get(register);
      // A flag here will not go away by asking again: the value cannot be read.
      if (flagsError(got.flags ?? 0)) return null;
      if (got.value !== undefined) return got.value;
    } catch (e) {
      if (!(e instanceof SettingError) || e.reason === "unavailable") return null;
      // Timed out, busy or a frame error: asked again, a bounded number of times.
    }
  }
  return null;
}
