/**
 * Per-node storage policy documents in pepeunit's DataPipe format (its backend's validator),
 * plus the file policy pepeunit planned (payloads into MinIO/S3).
 */
import { z } from "zod";
import { duration, size } from "../config_values.ts";
import { imageSchema } from "../images/schema.ts";

/** Window lengths pepeunit allows for TimeWindow and Aggregation, in seconds. */
export const WINDOW_SIZES = [
  60,
  300,
  600,
  900,
  1200,
  1800,
  3600,
  7200,
  10800,
  14400,
  21600,
  28800,
  43200,
  86400,
] as const;

// pydantic's lax datetime: YYYY-MM-DD, or YYYY-MM-DD[T]HH:MM[:SS[.f]] with an optional Z or
// ±HH[:]MM (T, t, _ or a space between date and time), or Unix time as a number or numeric text.
const PYDANTIC_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt _](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|z|[+-]\d{2}:?\d{2})?)?$/;

/** pydantic's seconds-or-milliseconds rule for Unix time. */
function unixTime(n: number): number {
  return Math.abs(n) > 2e10 ? n : n * 1000;
}

/**
 * A datetime as pepeunit's validator (pydantic v2, lax) takes it, in ms; null when it refuses.
 * Without an offset it is read as UTC: pydantic keeps such a datetime naive, pepeunit's Go pipe
 * cannot read it at all (its time.Time wants RFC 3339), so UTC is the reading that makes sense.
 */
export function parsePydanticDatetime(v: string | number): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? unixTime(v) : null;
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(v)) return unixTime(Number(v));
  const m = PYDANTIC_DATETIME.exec(v);
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", sec = "0", fraction = "", zone] = m;
  const ms = Number(fraction.slice(0, 3).padEnd(3, "0"));
  const t = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec, ms);
  const back = new Date(t);
  // Date.UTC rolls 2023-02-30 over to March: a field that changed was out of range.
  if (
    back.getUTCFullYear() !== +y || back.getUTCMonth() !== +mo - 1 || back.getUTCDate() !== +d ||
    back.getUTCHours() !== +h || back.getUTCMinutes() !== +mi || back.getUTCSeconds() !== +sec
  ) return null;
  if (!zone || /^z$/i.test(zone)) return t;
  const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  const offset = (Number(z[2]) * 60 + Number(z[3])) * 60_000;
  return z[1] === "+" ? t - offset : t + offset;
}

const date = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const t = parsePydanticDatetime(v);
  if (t === null) {
    ctx.addIssue({
      code: "custom",
      message: `expected a datetime like 2023-11-15T00:00:00Z, 2023-11-15T00:00:00 (UTC), ` +
        `2023-11-15 or Unix seconds, got ${JSON.stringify(v)}`,
    });
    return z.NEVER;
  }
  return t;
});

/**
 * pepeunit stores documents as JSON with `null` for an absent key: null is absent here too.
 * (Its validator is pydantic's; its messages are kept where they say what to fix.)
 */
function nullable<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => v === null ? undefined : v, schema);
}

/** An integer as pydantic's `int` takes it (12.0 yes, 12.5 no). */
const int = z.number().int("must be a whole number (pepeunit takes integers here)");

const activePeriodSchema = z.strictObject({
  type: z.enum(["Permanent", "FromDate", "ToDate", "DateRange"]).default("Permanent"),
  start: nullable(date.optional()),
  end: nullable(date.optional()),
}).superRefine((p, ctx) => {
  if ((p.type === "FromDate" || p.type === "DateRange") && p.start === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["start"],
      message: `start must be provided for ${p.type}`,
    });
  }
  if ((p.type === "ToDate" || p.type === "DateRange") && p.end === undefined) {
    ctx.addIssue({ code: "custom", path: ["end"], message: `end must be provided for ${p.type}` });
  }
  if (p.type === "DateRange" && p.start !== undefined && p.end !== undefined && p.start >= p.end) {
    ctx.addIssue({
      code: "custom",
      path: ["end"],
      message: "start must be before end for DateRange",
    });
  }
});

/** pepeunit's MQTT payload limit (pu_mqtt_max_payload_size, 256 KB): the largest max_size. */
export const PEPEUNIT_MAX_SIZE = 256 * 1024;

const filtersSchema = z.strictObject({
  /** Text or Number: how values are typed, kept and transformed (pepeunit's state_type). */
  type_input_value: nullable(z.enum(["Text", "Number"]).optional()),
  type_value_filtering: nullable(z.enum(["WhiteList", "BlackList"]).optional()),
  filtering_values: nullable(z.array(z.union([z.string(), z.number()])).default([])),
  type_value_threshold: nullable(z.enum(["Min", "Max", "Range"]).optional()),
  threshold_min: nullable(int.optional()),
  threshold_max: nullable(int.optional()),
  /** Seconds that must pass between two accepted values of the node. */
  max_rate: nullable(int.min(0).max(86400).optional()),
  /** Drop a value equal to the node's previous accepted one. */
  last_unique_check: nullable(z.boolean().default(false)),
  /** Larger payloads are dropped (over_max_size); 0 is no limit, as in pepeunit. */
  max_size: nullable(
    int.min(0).max(PEPEUNIT_MAX_SIZE, `max_size must be <= ${PEPEUNIT_MAX_SIZE}`).optional(),
  ),
}).superRefine((f, ctx) => {
  const issue = (path: string, message: string) =>
    ctx.addIssue({ code: "custom", path: [path], message });
  if (f.type_value_filtering && f.filtering_values.length > 0) {
    if (
      f.type_input_value === "Number" && !f.filtering_values.every((v) => typeof v === "number")
    ) {
      issue("filtering_values", "filtering_values must be numeric for Number input");
    }
    if (f.type_input_value === "Text" && !f.filtering_values.every((v) => typeof v === "string")) {
      issue("filtering_values", "filtering_values must be strings for Text input");
    }
  }
  // Thresholds apply to numbers only; pepeunit ignores them on Text nodes.
  if (f.type_input_value === "Text") return;
  const t = f.type_value_threshold;
  if ((t === "Min" || t === "Range") && f.threshold_min === undefined) {
    issue("threshold_min", `threshold_min is required for ${t} threshold`);
  }
  if ((t === "Max" || t === "Range") && f.threshold_max === undefined) {
    issue("threshold_max", `threshold_max is required for ${t} threshold`);
  }
  if (
    t === "Range" && f.threshold_min !== undefined && f.threshold_max !== undefined &&
    f.threshold_min >= f.threshold_max
  ) {
    issue("threshold_max", "threshold_min must be less than threshold_max");
  }
});

const transformationsSchema = z.strictObject({
  multiplication_ratio: nullable(z.number().optional()),
  round_decimal_point: nullable(int.min(0).max(7).optional()),
  slice_start: nullable(int.optional()),
  slice_end: nullable(int.optional()),
});

const FUNCTIONS = z.enum(["Avg", "Min", "Max", "Sum"]);

const processingSchema = z.strictObject({
  policy_type: z.enum(["LastValue", "NRecords", "TimeWindow", "Aggregation"]),
  n_records_count: nullable(
    int.min(1, "n_records_count must be between 1 and 1024")
      .max(1024, "n_records_count must be between 1 and 1024").default(10),
  ),
  time_window_size: nullable(
    int.refine(
      (n) => (WINDOW_SIZES as readonly number[]).includes(n),
      { message: `Invalid time_window_size. Must be one of: ${WINDOW_SIZES.join(", ")}` },
    ).default(60),
  ),
  /** One function as pepeunit has it (`Avg`), or several (our extension: one row each). */
  aggregation_functions: nullable(
    z.union([FUNCTIONS.transform((f) => [f]), z.array(FUNCTIONS).min(1)]).default(["Avg"]),
  ),
  /** LastValue: at most one write per this interval; the latest value wins. */
  write_interval: nullable(duration.default(5_000)),
});

const fileSchema = z.strictObject({
  /** Archive format of the stored object; `tgz` is a gzipped tar. */
  compression: z.enum(["none", "gzip", "tar", "tgz", "zip"]).default("none"),
  /** Compression level (0-9) for gzip, tgz and zip. */
  level: z.number().int().min(0).max(9).default(6),
  /** zlib window bits (9-15) for gzip and tgz: smaller uses less memory. */
  window_bits: z.number().int().min(9).max(15).default(15),
  /** Larger payloads are dropped (over_max_size). */
  max_size: size.default(5 * 1024 * 1024),
  /** Object key prefix inside the bucket. */
  prefix: z.string().default(""),
});

/** One node's policy document. */
export const policySchema = z.strictObject({
  /** Everything is off unless the user enables the policy. */
  enabled: z.boolean().default(true),
  active_period: nullable(activePeriodSchema.default({ type: "Permanent" })),
  filters: nullable(filtersSchema.optional()),
  transformations: nullable(transformationsSchema.optional()),
  /** How numbers, text and JSON are kept (in ClickHouse). */
  processing_policy: nullable(processingSchema.optional()),
  /**
   * How images and binary payloads are kept (objects in MinIO/S3 plus a row in
   * ClickHouse); retention follows processing_policy (LastValue, NRecords or TimeWindow).
   */
  file_policy: fileSchema.optional(),
  /**
   * Images only (by content): normalised with ffmpeg (format, quality, box,
   * metadata stripped), kept by file_policy if set, and made into timelapse videos.
   */
  image_policy: imageSchema.optional(),
}).superRefine((p, ctx) => {
  if (p.file_policy && p.processing_policy?.policy_type === "Aggregation") {
    ctx.addIssue({
      code: "custom",
      path: ["file_policy"],
      message: "files cannot be aggregated: use LastValue, NRecords or TimeWindow",
    });
  }
});

/** The parsed image policy of a node. */
export type { ImagePolicy } from "../images/schema.ts";

/** A parsed policy document. */
export type Policy = z.output<typeof policySchema>;

/** The `policies` block of a source: a document per node, and one for nodes not listed. */
export const policiesSchema = z.strictObject({
  nodes: z.record(z.string(), policySchema).default({}),
  default: policySchema.optional(),
  /** Also hand policed values to the local store and outbox as samples. */
  keep_samples: z.boolean().default(false),
  /** How often LastValue writes and ended Aggregation windows are checked. */
  tick: duration.default(1000),
  /** Disk all nodes' waiting timelapse frames may use; frames beyond are dropped (frames_disk_full). */
  frames_max_disk: size.default(512 * 1024 * 1024),
});

/** The parsed `policies` block. */
export type PoliciesConfig = z.output<typeof policiesSchema>;

/** Whether any node's policy document has an image policy (which needs ffmpeg). */
export function hasImagePolicy(policies: PoliciesConfig): boolean {
  return [...Object.values(policies.nodes), policies.default].some((d) => d?.image_policy);
}
