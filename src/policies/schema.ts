/**
 * Per-node storage policy documents in pepeunit's format (REFERENCE.md section 5),
 * plus the file policy pepeunit planned (payloads into MinIO/S3).
 */
import { z } from "zod";
import { duration, size } from "../config/types.ts";
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

const date = z.union([z.iso.datetime({ offset: true }), z.iso.date()]).transform((s) =>
  Date.parse(s)
);

const activePeriodSchema = z.strictObject({
  type: z.enum(["Permanent", "FromDate", "ToDate", "DateRange"]).default("Permanent"),
  start: date.optional(),
  end: date.optional(),
}).superRefine((p, ctx) => {
  if ((p.type === "FromDate" || p.type === "DateRange") && p.start === undefined) {
    ctx.addIssue({ code: "custom", path: ["start"], message: `${p.type} needs a start date` });
  }
  if ((p.type === "ToDate" || p.type === "DateRange") && p.end === undefined) {
    ctx.addIssue({ code: "custom", path: ["end"], message: `${p.type} needs an end date` });
  }
});

const filtersSchema = z.strictObject({
  /** The value type this node must send; other types are dropped (wrong_type). */
  type_input_value: z.enum(["Text", "Number"]).optional(),
  type_value_filtering: z.enum(["WhiteList", "BlackList"]).optional(),
  filtering_values: z.array(z.union([z.string(), z.number()])).default([]),
  type_value_threshold: z.enum(["Min", "Max", "Range"]).optional(),
  threshold_min: z.number().optional(),
  threshold_max: z.number().optional(),
  /** Seconds that must pass between two accepted values of the node. */
  max_rate: z.number().min(0).optional(),
  /** Drop a value equal to the node's previous accepted one. */
  last_unique_check: z.boolean().default(false),
  /** Larger payloads are dropped (over_max_size). */
  max_size: z.number().int().min(1).optional(),
}).superRefine((f, ctx) => {
  if (f.type_value_threshold && f.type_value_threshold !== "Max" && f.threshold_min === undefined) {
    ctx.addIssue({ code: "custom", path: ["threshold_min"], message: "needed by the threshold" });
  }
  if (f.type_value_threshold && f.type_value_threshold !== "Min" && f.threshold_max === undefined) {
    ctx.addIssue({ code: "custom", path: ["threshold_max"], message: "needed by the threshold" });
  }
});

const transformationsSchema = z.strictObject({
  multiplication_ratio: z.number().optional(),
  round_decimal_point: z.number().int().min(0).max(7).optional(),
  slice_start: z.number().int().optional(),
  slice_end: z.number().int().optional(),
});

const processingSchema = z.strictObject({
  policy_type: z.enum(["LastValue", "NRecords", "TimeWindow", "Aggregation"]),
  n_records_count: z.number().int().min(1).max(1024).default(10),
  time_window_size: z.number().int().refine(
    (n) => (WINDOW_SIZES as readonly number[]).includes(n),
    { message: `one of ${WINDOW_SIZES.join(", ")} (seconds)` },
  ).default(60),
  aggregation_functions: z.array(z.enum(["Avg", "Min", "Max", "Sum"])).min(1).default(["Avg"]),
  /** LastValue: at most one write per this interval; the latest value wins. */
  write_interval: duration.default(5_000),
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
  active_period: activePeriodSchema.default({ type: "Permanent" }),
  filters: filtersSchema.optional(),
  transformations: transformationsSchema.optional(),
  /** How numbers, text and JSON are kept (in ClickHouse). */
  processing_policy: processingSchema.optional(),
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
