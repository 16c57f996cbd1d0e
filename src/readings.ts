/**
 * The latest sample of each node: the measured values /metrics exposes, and the
 * source a node's windows name. Holds a reference to the sample the pipeline
 * already has, never a copy; bounded to `maxNodes` nodes, the least recently
 * heard forgotten first.
 */
import type { Sample } from "./model.ts";
import { LruMap } from "./util/lru.ts";

/** Latest samples per node. */
export class LatestReadings {
  readonly #latest: LruMap<string, Sample>;

  constructor(readonly maxNodes: number) {
    this.#latest = new LruMap(maxNodes);
  }

  /** Keeps the newest of each node's samples. */
  record(samples: Sample[]): void {
    if (this.maxNodes === 0) return;
    for (const s of samples) {
      const prev = this.#latest.get(s.node);
      if (prev && s.ts < prev.ts) continue;
      // A node's samples may carry different fields (a BMV's two blocks): keep the union.
      if (prev && prev.source === s.source && lacksSome(s, prev)) {
        this.#latest.set(s.node, { ...s, fields: { ...prev.fields, ...s.fields } });
      } else this.#latest.set(s.node, s);
    }
  }

  /** The latest samples of the `limit` most recently heard nodes, most recent last. */
  all(limit: number = this.maxNodes): Sample[] {
    const all = [...this.#latest.values()];
    return limit >= all.length ? all : all.slice(all.length - limit);
  }

  /** The source a node's latest sample came from. */
  sourceOf(node: string): string | undefined {
    return this.#latest.get(node)?.source;
  }
}

function lacksSome(s: Sample, prev: Sample): boolean {
  for (const k in prev.fields) if (!(k in s.fields)) return true;
  return false;
}
