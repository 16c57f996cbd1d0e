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

/** DataLake's fire-monitoring record (REFERENCE.md section 7). */
export const dataLakeSchema = z.strictObject({
  equipment_id: z.string().min(1).max(128),
  facility_id: z.string().min(1).max(128),
  equipment_location: z.string().max(256).optional(),
  measured_at: z.union([z.number().int().nonnegative(), z.iso.datetime({ offset: true })]),
  temperature: z.number().optional(),
  humidity: z.number().optional(),
  smoke_density: z.number().optional(),
  co_level: z.number().optional(),
  gas_level: z.number().optional(),
});

/** Valid ranges of DataLake metrics; values outside are clamped (and counted). */
export const DEFAULT_RANGES: Record<string, [number, number]> = {
  temperature: [-40, 150],
  humidity: [0, 100],
  smoke_density: [0, 1],
  co_level: [0, 1],
  gas_level: [0, 1],
};

type Item = z.output<typeof ingestSampleSchema>;

/** What /ingest accepted: generic samples, and how many values were clamped. */
export interface ParsedIngest {
  items: Item[];
  clamped: number;
}

function clampItem(item: Item, ranges: Record<string, [number, number]>): number {
  let clamped = 0;
  for (const [k, v] of Object.entries(item.fields)) {
    const range = ranges[k];
    if (!range || typeof v !== "number") continue;
    const c = Math.min(range[1], Math.max(range[0], v));
    if (c !== v) {
      item.fields[k] = c;
      clamped++;
    }
  }
  return clamped;
}

/**
 * Validates a body of /ingest: one object or an array, each either generic
 * `{node, ts, fields, tags}` or a DataLake record (it has `equipment_id`).
 * Errors carry field paths (`1.fields.v`); values are clamped to `ranges`.
 */
export function parseIngestBody(
  body: unknown,
  options: { ranges?: Record<string, [number, number]> } = {},
): { success: true; data: ParsedIngest } | { success: false; errors: string[] } {
  const ranges = options.ranges ?? DEFAULT_RANGES;
  const list = Array.isArray(body) ? body : [body];
  if (list.length === 0 || list.length > 10_000) {
    return { success: false, errors: ["(body): send 1 to 10000 samples"] };
  }
  const errors: string[] = [];
  const items: Item[] = [];
  let clamped = 0;
  list.forEach((raw, i) => {
    const prefix = Array.isArray(body) ? [String(i)] : [];
    const isLake = !!raw && typeof raw === "object" && "equipment_id" in raw;
    const parsed = isLake ? dataLakeSchema.safeParse(raw) : ingestSampleSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        errors.push(
          `${[...prefix, ...issue.path.map(String)].join(".") || "(body)"}: ${issue.message}`,
        );
      }
      return;
    }
    let item: Item;
    if (isLake) {
      const d = parsed.data as z.output<typeof dataLakeSchema>;
      const fields: Record<string, number> = {};
      for (
        const k of ["temperature", "humidity", "smoke_density", "co_level", "gas_level"] as const
      ) {
        if (d[k] !== undefined) fields[k] = d[k];
      }
      if (Object.keys(fields).length === 0) {
        errors.push(`${[...prefix].join(".") || "(body)"}: at least one measurement`);
        return;
      }
      const tags: Record<string, string> = { facility_id: d.facility_id };
      if (d.equipment_location) tags.location = d.equipment_location;
      item = { node: d.equipment_id, ts: d.measured_at, fields, tags };
    } else {
      item = parsed.data as Item;
    }
    clamped += clampItem(item, ranges);
    items.push(item);
  });
  return errors.length > 0
    ? { success: false, errors }
    : { success: true, data: { items, clamped } };
}

/** Turns validated samples into pipeline samples stamped with `source`. */
export function toSamples(
  items: Item[],
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
