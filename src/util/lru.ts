/**
 * A Map holding at most `max` entries: setting one more forgets the least
 * recently used. For per-node state, whose keys come from outside (topics,
 * payloads, keys) and would otherwise grow without bound.
 */
export class LruMap<K, V> {
  #map = new Map<K, V>();

  constructor(readonly max: number, readonly onEvict?: (key: K, value: V) => void) {}

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  /** Sets a value (most recently used), forgetting the least recently used beyond `max`. */
  set(key: K, value: V): this {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.max) {
      const [k, v] = this.#map.entries().next().value as [K, V];
      this.#map.delete(k);
      this.onEvict?.(k, v);
    }
    return this;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Entries from the least to the most recently used. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }

  keys(): IterableIterator<K> {
    return this.#map.keys();
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}
