import { z } from "zod";
import type { Sample } from "../model.ts";

const fieldValue = z.union([z.number(), z.string().max(1024), z.boolean(), z.null()]);

/** One generic sample as posted to /ingest. */
export const ingestSampleSchema = z.strictObject({
  node: z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, "use letters, digits, _ . : -"),
  /** Epoch ms or ISO 8601; now when absent. */
  ts: z.union([z.number().int().nonnegative(), z.iso.datetime({ offset: true })]).optional(),
  fields: z.record(z.string().min(1).max(64), fieldValue).refine(
    (f) => Object.keys(f).length > 0,
    "at least one field",
  ),
  tags: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
});

/** A body of /ingest: one sample or an array of them. */
export const ingestBodySchema = z.union([
  ingestSampleSchema,
  z.array(ingestSampleSchema).min(1).max(10_000),
]);

/** Turns a validated body into samples stamped with `source`. */
export function toSamples(
  body: z.output<typeof ingestBodySchema>,
  options: { source: string; now: number },
): Sample[] {
  const items = Array.isArray(body) ? body : [body];
  return items.map((i) => ({
    source: options.source,
    node: i.node,
    ts: i.ts === undefined ? options.now : typeof i.ts === "number" ? i.ts : Date.parse(i.ts),
    fields: i.fields,
    tags: i.tags,
  }));
}
