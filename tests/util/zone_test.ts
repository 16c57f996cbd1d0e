/** The site's time zone: dates, hours and offsets at fixed instants, never the hour of the run. */
import assert from "node:assert/strict";
import {
  daysBefore,
  isZone,
  localDate,
  localDayNumber,
  localHour,
  localTime,
  systemZone,
  zoneLabel,
  zoneOffset,
} from "../../src/util/zone.ts";

const H = 3_600_000;

Deno.test("offsets and wall-clock times of a zone, DST included", () => {
  const summer = Date.UTC(2026, 5, 21, 12);
  const winter = Date.UTC(2026, 0, 15, 12);
  assert.equal(zoneOffset(summer, "Europe/Berlin"), 2 * H);
  assert.equal(zoneOffset(winter, "Europe/Berlin"), 1 * H);
  assert.equal(zoneOffset(summer, "Asia/Kolkata"), 5.5 * H);
  assert.equal(zoneOffset(summer, "America/Los_Angeles"), -7 * H);
  assert.equal(localTime(summer, "Europe/Berlin"), "14:00");
  assert.equal(localTime(summer + 9000, "Asia/Kolkata", { seconds: true }), "17:30:09");
  assert.equal(localHour(summer, "Asia/Kolkata"), 17.5);
  assert.equal(zoneLabel(summer, "Asia/Kolkata"), "Asia/Kolkata (UTC+05:30)");
  assert.equal(zoneLabel(summer, "America/Los_Angeles"), "America/Los_Angeles (UTC-07:00)");
  assert.equal(zoneLabel(summer, "Etc/UTC"), "UTC");
  // The night Berlin moves its clocks back (2026-10-25, 01:00 UTC): offsets either side.
  assert.equal(zoneOffset(Date.UTC(2026, 9, 25, 0, 59), "Europe/Berlin"), 2 * H);
  assert.equal(zoneOffset(Date.UTC(2026, 9, 25, 1, 0), "Europe/Berlin"), 1 * H);
});

Deno.test("a day ends at the zone's midnight: one instant, two dates", () => {
  const t = Date.UTC(2026, 5, 21, 23, 30);
  assert.equal(localDate(t, "UTC"), "2026-06-21");
  assert.equal(localDate(t, "Asia/Tokyo"), "2026-06-22");
  assert.equal(localDate(Date.UTC(2026, 5, 21, 3), "America/Los_Angeles"), "2026-06-20");
  assert.equal(localDayNumber(t, "Asia/Tokyo"), localDayNumber(t, "UTC") + 1);
  // Calendar days back, across a month and a DST change.
  assert.equal(daysBefore("2026-03-31", 30), "2026-03-01");
  assert.equal(daysBefore("2026-11-02", 29), "2026-10-04");
});

Deno.test("zone names are checked; the default is the system's (TZ)", async () => {
  assert.ok(isZone("Europe/Berlin"));
  assert.ok(isZone("UTC"));
  assert.ok(!isZone("Mars/Olympus_Mons"));
  const zoneUnder = async (tz: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { systemZone } from "${new URL(
          "../../src/util/zone.ts",
          import.meta.url,
        )}"; console.log(systemZone());`,
      ],
      env: { TZ: tz, NO_COLOR: "1" },
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  assert.equal(await zoneUnder("Asia/Tokyo"), "Asia/Tokyo");
  assert.equal(await zoneUnder("America/New_York"), "America/New_York");
  assert.equal(typeof systemZone(), "string");
});
