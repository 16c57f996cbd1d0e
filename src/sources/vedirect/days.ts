import type { HexMessage } from "./hex.ts";
import { daysBefore, localDate } from "../../util/zone.ts";
import { type DayRecord, decodeDayRecord, HISTORY_DAYS, HISTORY_TODAY } from "./history.ts";

/** One day's bar: its date (in the site's time zone, by the gateway's clock) and what the charger recorded. */
export interface YieldDay {
  date: string;
  yield_kwh: number | null;
  max_power_w: number | null;
}

/**
 * A charger's last 30 days of yield, from its HEX day records (0x1050 today,
 * 0x1051 yesterday, ...). Past days never change: they are read once, and again
 * when the charger's day number moves on; today is taken at every history read.
 */
export class YieldHistory {
  #days: (DayRecord | null)[] = [];
  /** The day number the past days were read on. */
  #readOn: number | null = null;

  /** Takes today's record, and reads the past days when they are not read for today yet. */
  async update(today: DayRecord, get: (register: number) => Promise<HexMessage>): Promise<void> {
    this.#days[0] = today;
    if (today.day !== null && today.day === this.#readOn) return;
    for (let i = 1; i < HISTORY_DAYS; i++) {
      const msg = await get(HISTORY_TODAY + i);
      this.#days[i] = msg.flags === 0 ? decodeDayRecord(msg.payload.subarray(3)) : null;
    }
    this.#readOn = today.day;
  }

  /** The days read so far, oldest first, dated back from `now`'s date in `timeZone`. */
  days(now: number, timeZone = "UTC"): YieldDay[] {
    const out: YieldDay[] = [];
    const today = localDate(now, timeZone);
    for (let i = this.#days.length - 1; i >= 0; i--) {
      const d = this.#days[i];
      out.push({
        date: daysBefore(today, i),
        yield_kwh: d?.yield_kwh ?? null,
        max_power_w: d?.max_power_w ?? null,
      });
    }
    return out;
  }
}
