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

const ingestArraySchema = z.array(ingestSampleSchema).min(1).max(10_000);

/** Validates a body of /ingest (one sample or an array); errors carry field paths. */
export function parseIngestBody(body: unknown) {
  // Choosing the schema first keeps error paths precise (`1.fields.v`), unlike a union.
  return Array.isArray(body)
    ? ingestArraySchema.safeParse(body)
    : ingestSampleSchema.transform((s) => [s]).safeParse(body);
}

/** Turns validated samples into pipeline samples stamped with `source`. */
export function toSamples(
  items: z.output<typeof ingestSampleSchema>[],
  options: { source: string; now: number },
): Sample[] {
  return items.map((i) => ({
    source: options.source,
    node: i.node,
    ts: i.ts === undefined ? options.now : typeof i.ts === "number" ? i.ts : Date.parse(i.ts),
    fields: i.fields,
    tags: i.tags,
  }));
}
