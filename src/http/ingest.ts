import { z } from "zod";
import { MAX_FIELDS, type Sample } from "../model.ts";
import { readTime, timeProblem } from "../sample_time.ts";
import { DEFAULT_RANGES } from "../config/schema.ts";

const fieldValue = z.union([z.number(), z.string().max(1024), z.boolean(), z.null()]);

/** One generic sample as posted to /ingest. */
export const ingestSampleSchema = z.strictObject({
  node: z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, "use letters, digits, _ . : -"),
  /** Epoch s/ms/us/ns (by magnitude) or ISO 8601; the arrival time when absent. */
  ts: z.union([z.number(), z.string().max(64)]).optional(),
  fields: z.record(z.string().min(1).max(64), fieldValue).refine(
    (f) => Object.keys(f).length > 0,
    "at least one field",
  ).refine((f) => Object.keys(f).length <= MAX_FIELDS, `at most ${MAX_FIELDS} fields`),
  tags: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
});

/** DataLake's fire-monitoring record (its ingest API's JSON body). */
export const dataLakeSchema = z.strictObject({
  equipment_id: z.string().min(1).max(128),
  facility_id: z.string().min(1).max(128),
  equipment_location: z.string().max(256).optional(),
  measured_at: z.union([z.number(), z.string().max(64)]),
  temperature: z.number().optional(),
  humidity: z.number().optional(),
  smoke_density: z.number().optional(),
  co_level: z.number().optional(),
  gas_level: z.number().optional(),
});

type Item = Omit<z.output<typeof ingestSampleSchema>, "ts"> & { ts?: number };

/** What /ingest accepted: generic samples, and how many values were clamped. */
export interface ParsedIngest {
  items: Item[];
  clamped: number;
}

/** Options of {@link parseIngestBody}. */
export interface IngestOptions {
  ranges?: Record<string, [number, number]>;
  /** The gateway's time, and how far ahead of it a sample's own time may be. */
  now: number;
  maxFuture: number;
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
  options: IngestOptions,
):
  | { success: true; data: ParsedIngest }
  | { success: false; errors: string[]; reason: "invalid_body" | "bad_timestamp" } {
  const ranges = options.ranges ?? DEFAULT_RANGES;
  const list = Array.isArray(body) ? body : [body];
  if (list.length === 0 || list.length > 10_000) {
    return { success: false, errors: ["(body): send 1 to 10000 samples"], reason: "invalid_body" };
  }
  const errors: string[] = [];
  let timeErrors = 0;
  const items: Item[] = [];
  let clamped = 0;
  list.forEach((raw, i) => {
    const prefix = Array.isArray(body) ? [String(i)] : [];
    const isLake = !!raw && typeof raw === "object" && "equipment_id" in raw;
    const parsed = isLake ? dataLakeSchema.safeParse(raw) : ingestSampleSchema.safeParse(raw);
    // The sample's own time is judged even when other fields are wrong: every error at once.
    const key = isLake ? "measured_at" : "ts";
    const given = (raw as Record<string, unknown> | null)?.[key];
    let ts: number | undefined;
    if (given !== undefined && (typeof given === "number" || typeof given === "string")) {
      const read = readTime(given);
      const problem = read === null
        ? `${JSON.stringify(given)} is not a time (epoch s/ms/us/ns or ISO 8601)`
        : timeProblem(read, options);
      if (problem) {
        errors.push(`${[...prefix, key].join(".")}: ${problem}`);
        timeErrors++;
      } else ts = read!;
    }
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        errors.push(
          `${[...prefix, ...issue.path.map(String)].join(".") || "(body)"}: ${issue.message}`,
        );
      }
      return;
    }
    if (given !== undefined && ts === undefined) return;
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
      item = { node: d.equipment_id, ts, fields, tags };
    } else {
      item = { ...parsed.data as z.output<typeof ingestSampleSchema>, ts };
    }
    clamped += clampItem(item, ranges);
    items.push(item);
  });
  if (errors.length === 0) return { success: true, data: { items, clamped } };
  return {
    success: false,
    errors,
    reason: timeErrors === errors.length ? "bad_timestamp" : "invalid_body",
  };
}

/**
 * Turns validated samples into pipeline samples of `source`; those without
 * their own time get an arrival stamp unique within their node's series.
 */
export function toSamples(
  items: Item[],
  options: { source: string; stamp: (node: string) => number },
): Sample[] {
  return items.map((i) => ({
    source: options.source,
    node: i.node,
    ts: i.ts ?? options.stamp(i.node),
    fields: i.fields,
    tags: i.tags,
  }));
}
