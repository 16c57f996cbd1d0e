/**
 * The site's time zone for what people read: dates of days, hours on axes, the simulated
 * sun. Windows and stamps stay epoch-aligned UTC; only presentation goes through here.
 */

const formats = new Map<string, Intl.DateTimeFormat>();

/** The system's zone (TZ, else /etc/localtime), as Intl resolves it; UTC when it cannot. */
export function systemZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Whether an IANA zone name (`Europe/Berlin`, `UTC`) is known to this runtime. */
export function isZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function format(zone: string): Intl.DateTimeFormat {
  let f = formats.get(zone);
  if (!f) {
    // A handful of zones at most (the config's and the system's): the map stays small.
    if (formats.size > 16) formats.clear();
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formats.set(zone, f);
  }
  return f;
}

/** The last offset per zone and its quarter hour: zones change offset on quarter hours. */
const lastOffset = new Map<string, { quarter: number; offset: number }>();

/** The zone's offset from UTC at `ms`, in ms (Europe/Berlin in June: +7,200,000). */
export function zoneOffset(ms: number, zone: string): number {
  const quarter = Math.floor(ms / 900_000);
  const last = lastOffset.get(zone);
  if (last?.quarter === quarter) return last.offset;
  if (lastOffset.size > 16) lastOffset.clear();
  const offset = offsetAt(ms, zone);
  lastOffset.set(zone, { quarter, offset });
  return offset;
}

function offsetAt(ms: number, zone: string): number {
  const p: Record<string, number> = {};
  for (const { type, value } of format(zone).formatToParts(ms)) p[type] = Number(value);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(ms / 1000) * 1000;
}

/** The wall-clock time at `ms` in the zone, as a Date whose UTC fields read it. */
function wall(ms: number, zone: string): Date {
  return new Date(ms + zoneOffset(ms, zone));
}

/** The local date at `ms`: `2026-06-21`. */
export function localDate(ms: number, zone: string): string {
  return wall(ms, zone).toISOString().slice(0, 10);
}

/** The local time at `ms`: `14:05` (`withSeconds`: `14:05:09`). */
export function localTime(ms: number, zone: string, options: { seconds?: boolean } = {}): string {
  return wall(ms, zone).toISOString().slice(11, options.seconds ? 19 : 16);
}

/** The local hour at `ms` with its fraction (14.5 at half past two). */
export function localHour(ms: number, zone: string): number {
  return ((ms + zoneOffset(ms, zone)) / 3_600_000) % 24;
}

/** The local day's number since 1970-01-01 (changes at local midnight). */
export function localDayNumber(ms: number, zone: string): number {
  return Math.floor((ms + zoneOffset(ms, zone)) / 86_400_000);
}

/** The date `days` calendar days before `date` (`YYYY-MM-DD`), whatever the zone's DST. */
export function daysBefore(date: string, days: number): string {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d - days)).toISOString().slice(0, 10);
}

/** How the zone is named for people: `Europe/Berlin (UTC+02:00)` at `ms`, or `UTC`. */
export function zoneLabel(ms: number, zone: string): string {
  const off = Math.round(zoneOffset(ms, zone) / 60_000);
  if (/^(Etc\/)?(UTC|UCT|Universal|Zulu|GMT)$/.test(zone) && off === 0) return "UTC";
  const sign = off < 0 ? "-" : "+";
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, "0");
  const mm = String(Math.abs(off) % 60).padStart(2, "0");
  return `${zone} (UTC${sign}${hh}:${mm})`;
}
