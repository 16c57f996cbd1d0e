import { z } from "zod";
import { duration } from "../config_values.ts";

const levels = z.strictObject({ warn: z.number().optional(), emergency: z.number().optional() })
  .refine((l) => l.warn !== undefined || l.emergency !== undefined, "set warn and/or emergency");

/** A threshold rule on one field: anomaly events when a value crosses warn/emergency. */
export const thresholdSchema = z.strictObject({
  field: z.string().min(1),
  /** Only these nodes (globs); all when empty. */
  nodes: z.array(z.string()).default([]),
  above: levels.optional(),
  below: levels.optional(),
  /** How far back past a threshold a value must go before the level drops again. */
  hysteresis: z.number().nonnegative().default(0),
}).refine((r) => r.above || r.below, "set above and/or below");

/** An alert on the gateway's own figures, e.g. `sinks.influx.failed > 100`. */
export const alertSchema = z.strictObject({
  name: z.string().min(1),
  /** A dotted path into /status: `sinks.<name>.failed`, `sources.<name>.counters.checksum_errors`, ... */
  metric: z.string().min(1),
  above: z.number(),
  /** At most one alert per cooldown while the condition holds. */
  cooldown: duration.default(600_000),
});

/** The `events` config section. */
export const eventsSchema = z.strictObject({
  thresholds: z.array(thresholdSchema).default([]),
  alerts: z.array(alertSchema).default([]),
  /** A "data saved" summary event this often (0 = off). */
  summary_every: duration.default(0),
  /** How often alert rules are checked. */
  check_every: duration.default(10_000),
}).prefault({});

/** Parsed threshold rule. */
export type ThresholdRule = z.output<typeof thresholdSchema>;
/** Parsed alert rule. */
export type AlertRule = z.output<typeof alertSchema>;
