import { z } from "zod";
import { duration } from "../../config_values.ts";
import { CHARGER_SETTINGS, MONITOR_SETTINGS } from "../../victron/settings.ts";

const SETTING_NAMES = [...CHARGER_SETTINGS, ...MONITOR_SETTINGS].map((s) => s.name) as [
  string,
  ...string[],
];

/** Config of a VE.Direct source: a serial port, or a simulated device. */
export const vedirectSchema = z.strictObject({
  type: z.literal("vedirect"),
  /** Serial device; prefer a stable `/dev/serial/by-id/...` link. */
  port: z.string().min(1).optional(),
  /** Simulate a device instead of reading a port (the demo uses this). */
  simulate: z.enum(["mppt", "bmv"]).optional(),
  /** Series name in the store; defaults to the source name. */
  node: z.string().regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, _ . and -").optional(),
  baud: z.number().int().positive().default(19200),
  /** Some chargers (Phoenix Smart IP43) send bad checksums: set false to accept them. */
  validate_checksum: z.boolean().default(true),
  /** Silence that ends a burst of blocks. */
  gap: duration.default(300),
  /**
   * How often a charger's daily history (HEX register 0x1050: battery voltage range,
   * minutes in bulk/absorption/float) is read; 0 never.
   */
  history_every: duration.default(300_000),
  /** How long the device has to answer a HEX request (a setting, the history). */
  hex_timeout: duration.default(2000),
  /**
   * Settings that may be changed (`PUT /devices/<node>/settings/<name>` with the token,
   * Venus `W/`, Home Assistant's entities): all the product's known settings, or a list; `[]` none.
   */
  writable: z.union([z.literal("all"), z.array(z.enum(SETTING_NAMES))]).default("all"),
  /**
   * A device with no frame this long is `stale` (status, /health, page, /metrics, Home
   * Assistant availability, Venus); default 5 of its intervals, at least 10 s.
   */
  stale_after: duration.optional(),
  /**
   * The battery's nominal voltage; without it, told from the measured voltage (a 12 V battery
   * reads 10-16.8 V). Scales the charge voltages' safe ranges.
   */
  system_voltage: z.union([z.literal(12), z.literal(24), z.literal(36), z.literal(48)]).optional(),
  /** The most current the battery may take (A, its maker's sheet): caps max_charge_current. */
  battery_max_current: z.number().positive().max(1000).optional(),
  reconnect_min: duration.default(500),
  reconnect_max: duration.default(30_000),
  /** Simulator: one frame every `interval`. */
  interval: duration.default(1000),
  /** Simulator: PRNG seed, so runs are reproducible. */
  seed: z.number().int().default(1),
}).refine((c) => (c.port === undefined) !== (c.simulate === undefined), {
  message: "set exactly one of port (a serial device) or simulate (mppt or bmv)",
});

/** Parsed VE.Direct source config. */
export type VeDirectConfig = z.output<typeof vedirectSchema>;
