/** A sink's `fields` globs applied to what it receives: the other fields are left out. */
import type { Envelope } from "./model.ts";
import { globMatcher } from "./util/glob.ts";

/** Keeps only the configured fields of samples and windows (all of them when `globs` is empty). */
export function fieldFilter(globs: string[]): (e: Envelope) => Envelope {
  if (globs.length === 0) return (e) => e;
  const match = globMatcher(globs);
  const pick = <T>(o: Record<string, T>) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => match(k)));
  return (e) => {
    if (e.kind === "sample") return { ...e, data: { ...e.data, fields: pick(e.data.fields) } };
    if (e.kind === "window") return { ...e, data: { ...e.data, stats: pick(e.data.stats) } };
    return e;
  };
}
