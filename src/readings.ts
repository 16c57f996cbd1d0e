/**
 * The latest sample of each node, for exposing measured values (Prometheus).
 * Holds a reference to the sample the pipeline already has, never a copy;
 * bounded to `maxNodes` nodes, the least recently heard forgotten first.
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

  /** Every node's latest sample, most recently heard last. */
  all(): Sample[] {
    return [...this.#latest.values()];
  }
}

function lacksSome(s: Sample, prev: Sample): boolean {
  for (const k in prev.fields) if (!(k in s.fields)) return true;
  return false;
}
