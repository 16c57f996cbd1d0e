import { z } from "zod";
import { deliveryFields } from "../../plugin.ts";
import { fetchTlsIssue, tlsFields } from "../../tls.ts";

/** A hissrv-style mapping: a regex on the node name picks the measurement, tags and field names. */
export const mappingSchema = z.strictObject({
  /** Regular expression matched against the node (the source key). */
  match: z.string().refine((s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  }, "not a valid regular expression"),
  measurement: z.string().min(1),
  /** Tags from capture groups: `{channel: "$1"}`. */
  tags: z.record(z.string(), z.string()).default({}),
  /** Field renames; `"*": direct` keeps unmapped fields under their own name. */
  fields: z.record(z.string(), z.string()).default({ "*": "direct" }),
});

/** Config of the InfluxDB sink (v1 /write, or v2 /api/v2/write). */
export const influxdbSchema = z.strictObject({
  type: z.literal("influxdb"),
  ...deliveryFields,
  url: z.url(),
  api: z.enum(["v1", "v2"]).default("v1"),
  /** v1: database, retention policy, credentials. */
  database: z.string().optional(),
  retention_policy: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** v1: issue CREATE DATABASE on connect. */
  create_database: z.boolean().default(false),
  /** v2: organisation, bucket, token. */
  org: z.string().optional(),
  bucket: z.string().optional(),
  token: z.string().optional(),
  gzip: z.boolean().default(true),
  /**
   * Batches in the air at once (v1). A point written twice overwrites itself, so after a
   * failure the second batch is simply sent again; the cursor moves in order. v2 sends one.
   */
  in_flight: z.union([z.literal(1), z.literal(2)]).default(2),
  /**
   * Measurement for samples without a mapping: `{kind}` (the source's kind: `vedirect`,
   * `mqtt`, `dataservice`, ... as Telegraf names by input), `{source}` and `{node}` are replaced.
   */
  measurement: z.string().default("{kind}"),
  /** Measurement for windows; `{measurement}` and `{level}` are replaced. */
  window_measurement: z.string().default("{measurement}_{level}"),
  event_measurement: z.string().default("events"),
  /** Extra static tags on every point. */
  tags: z.record(z.string(), z.string()).default({}),
  /** Also write the tags sources attach (device model, serial): low cardinality by design. */
  sample_tags: z.boolean().default(true),
  mappings: z.array(mappingSchema).default([]),
  /** TLS for `https://`: a private CA, a client certificate (no `insecure`: fetch verifies). */
  ...tlsFields,
}).refine((c) => c.api === "v2" ? !!(c.org && c.bucket && c.token) : !!c.database, {
  message: "api v1 needs database; api v2 needs org, bucket and token",
}).superRefine((c, ctx) => {
  // Both APIs write with Deno's fetch.
  const issue = fetchTlsIssue(c);
  if (issue) ctx.addIssue({ code: "custom", message: issue, input: c, path: ["insecure"] });
});

/** Parsed InfluxDB sink config. */
export type InfluxConfig = z.output<typeof influxdbSchema>;
