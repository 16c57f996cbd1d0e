import { LruMap } from "../util/lru.ts";
/** Devices a sink keeps state for; beyond, the least recently heard is forgotten. */
export const MAX_DEVICES = 10_000;

/** Tracks when each device was last heard from, to flip it offline after a silence. */
export class Liveness {
  #seen = new LruMap<string, { at: number; online: boolean }>(MAX_DEVICES);

  /** Records a reading at `ts`; true when the device was offline (or new) until now. */
  seen(key: string, ts: number): boolean {
    const prev = this.#seen.get(key);
    this.#seen.set(key, { at: Math.max(ts, prev?.at ?? 0), online: true });
    return !prev?.online;
  }

  /** Devices silent for longer than `maxAgeMs` that were online: now marked offline. */
  expire(now: number, maxAgeMs: number): string[] {
    const gone: string[] = [];
    for (const [key, s] of this.#seen) {
      if (s.online && now - s.at > maxAgeMs) {
        s.online = false;
        gone.push(key);
      }
    }
    return gone;
  }

  /** Marks a device offline now (its source says it went silent); true when it was online. */
  drop(key: string): boolean {
    const s = this.#seen.get(key);
    if (!s?.online) return false;
    s.online = false;
    return true;
  }

  /** Every device seen so far. */
  keys(): string[] {
    return [...this.#seen.keys()];
  }
}
