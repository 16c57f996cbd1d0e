/**
 * The effective config as an operator writes it: the parsed config holds
 * durations in ms and sizes in bytes; `check` shows them as `20s` and `1MiB`.
 * The schema says which numbers are which: this walks schema and value
 * together and rewrites the numbers whose schema is {@link duration} or
 * {@link size}. Plugin sections are walked with their plugin's schema.
 */
import type { z } from "zod";
import { duration, size } from "../config_values.ts";

/** Schemas that pick the schema of a value by its content (a plugin by its `type`). */
export const SCHEMA_CHOICES = new WeakMap<z.ZodType, (value: unknown) => z.ZodType | undefined>();

const DURATION_UNITS: [string, number][] = [["d", 86_400_000], ["h", 3_600_000], [
  "m",
  60_000,
], ["s", 1000]];
const SIZE_UNITS: [string, number][] = [
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
  ["GB", 1e9],
  ["MB", 1e6],
  ["KB", 1e3],
];

/** `20000` -> `20s`, `90000` -> `90s`, `1500` -> `1500ms`: the largest unit that divides it. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const unit = DURATION_UNITS.find(([, n]) => ms % n === 0);
  return unit ? `${ms / unit[1]}${unit[0]}` : `${ms}ms`;
}

/** `1048576` -> `1MiB`, `2000` -> `2KB`, `1234` -> `1234B`. */
export function formatSize(bytes: number): string {
  if (bytes === 0) return "0B";
  const unit = SIZE_UNITS.find(([, n]) => bytes % n === 0);
  return unit ? `${bytes / unit[1]}${unit[0]}` : `${bytes}B`;
}

type Def = {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  getter?: () => z.ZodType;
};

/** `value` (parsed by `schema`) with its durations and sizes in the units people write. */
export function displayConfig(schema: z.ZodType, value: unknown): unknown {
  if (schema === duration && typeof value === "number") return formatDuration(value);
  if (schema === size && typeof value === "number") return formatSize(value);
  const choice = SCHEMA_CHOICES.get(schema);
  if (choice) {
    const chosen = choice(value);
    return chosen ? displayConfig(chosen, value) : value;
  }
  const def = (schema as unknown as { _zod: { def: Def } })._zod.def;
  switch (def.type) {
    case "default":
    case "prefault":
    case "optional":
    case "nullable":
    case "nonoptional":
    case "readonly":
    case "catch":
      return displayConfig(def.innerType!, value);
    case "pipe":
      // `x.transform(f)` is a pipe into a transform: its output is shaped like x's.
      return displayConfig(
        (def.out as unknown as { _zod: { def: Def } })._zod.def.type === "transform"
          ? def.in!
          : def.out!,
        value,
      );
    case "lazy":
      return displayConfig(def.getter!(), value);
    case "union":
      for (const option of def.options ?? []) {
        const shown = displayConfig(option, value);
        if (shown !== value) return shown;
      }
      return value;
    case "array":
      return Array.isArray(value) ? value.map((v) => displayConfig(def.element!, v)) : value;
    case "record":
      return each(value, () => def.valueType);
    case "object":
      return each(value, (k) => def.shape?.[k] ?? def.catchall);
    default:
      return value;
  }
}

function each(value: unknown, schemaOf: (key: string) => z.ZodType | undefined): unknown {
  if (!value || typeof value !== "object" || Array.isArray(value)) return value;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const s = schemaOf(k);
    out[k] = s ? displayConfig(s, v) : v;
    if (out[k] !== v) changed = true;
  }
  // Unchanged values keep their identity, so a union can tell which option applied.
  return changed ? out : value;
}
