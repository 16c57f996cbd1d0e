import type { Clock } from "./util/clock.ts";
import { WallClock } from "./util/wall_clock.ts";

/** Entries kept before stamps older than {@link SETTLED_MS} are forgotten. */
const PRUNE_AT = 50_000;
/** After a prune, the next comes once the map is this many times the entries left. */
const GROWTH = 2;
/** A stamp this far behind the clock can no longer collide with a new arrival. */
const SETTLED_MS = 1000;
/** An arrival this far behind its node's last stamp means the wall clock stepped back (us). */
const STEPPED_US = 1_000_000;

/**
 * Arrival timestamps that never repeat within a node's series. InfluxDB (and any
 * store keyed by series + time) keeps one point per identity, so two samples of
 * one node arriving in the same millisecond must not share a stamp: the later
 * one moves forward by one microsecond, the precision the sinks write with.
 * A stamp is given once, when a sample is made, and travels with it through the
 * outbox, so a replay writes exactly the same points.
 */
export class SeriesStamps {
  /** The last stamp per node, in integer microseconds. */
  #last = new Map<string, number>();
  /** Size at which a new node prunes: the entries left by the last prune, doubled. */
  #pruneAt = PRUNE_AT;
  #examined = 0;

  constructor(readonly clock: Clock) {}

  /** A stamp (ms, in microsecond steps) for a sample of `node` made at `at` (default: now). */
  next(node: string, at: number = this.clock.now()): number {
    let us = Math.round(at * 1000);
    const last = this.#last.get(node);
    if (last !== undefined && us < last - STEPPED_US) us = this.#afterStep(at, us);
    if (last !== undefined && us <= last) us = last + 1;
    else if (last === undefined && this.#last.size >= this.#pruneAt) this.#prune();
    this.#last.set(node, us);
    return us / 1000;
  }

  /**
   * The first arrival after a step back can come before the clock's own check (once a second):
   * the step is looked for now, and `at`, read from the stepped clock, moved by it.
   */
  #afterStep(at: number, us: number): number {
    if (!(this.clock instanceof WallClock)) return us;
    const step = this.clock.check();
    return step && step.byMs < 0 ? Math.round((at - step.byMs) * 1000) : us;
  }

  /**
   * Forgets nodes whose last stamp is settled: memory stays bounded by the arrival rate (at most
   * twice the nodes stamped within {@link SETTLED_MS}, or {@link PRUNE_AT}). The next prune waits
   * until the map has doubled the entries left, so a scan of n entries follows at least n/2 new
   * nodes: O(1) per stamp. A scan per new node while a flood of distinct MQTT topics kept 50,000
   * unsettled was quadratic. (Dropping only the settled front of the Map was not enough: V8
   * leaves deleted entries in place until a rehash, and each new iteration walks over them.)
   */
  #prune(): void {
    const settled = (this.clock.now() - SETTLED_MS) * 1000;
    this.#examined += this.#last.size;
    for (const [node, us] of this.#last) if (us < settled) this.#last.delete(node);
    this.#pruneAt = Math.max(PRUNE_AT, GROWTH * this.#last.size);
  }

  /** Entries pruning has looked at so far: under two per new node, however fast they come. */
  get examined(): number {
    return this.#examined;
  }

  /** Nodes remembered now. */
  get size(): number {
    return this.#last.size;
  }
}
