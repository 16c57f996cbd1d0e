import type { GatewayEvent, Sample } from "../model.ts";
import { globMatcher } from "../util/glob.ts";
import { LruMap } from "../util/lru.ts";
import type { ThresholdRule } from "./schema.ts";

/** Severity levels, in order. */
export type Severity = "ok" | "warn" | "emergency";
const RANK: Record<Severity, number> = { ok: 0, warn: 1, emergency: 2 };

interface Compiled {
  rule: ThresholdRule;
  match: (node: string) => boolean;
}

/**
 * Threshold rules with hysteresis: an event when a value's level rises
 * (ok -> warn -> emergency) and one when it is back to ok; a value hovering
 * on a line does not flood, because falling back needs `hysteresis` margin.
 */
export class Thresholds {
  readonly #rules: Compiled[];
  /** Levels of the node/field pairs seen lately (node names come from outside: bounded). */
  #levels = new LruMap<string, Severity>(100_000);

  constructor(rules: ThresholdRule[]) {
    this.#rules = rules.map((rule) => ({ rule, match: globMatcher(rule.nodes) }));
  }

  /** True when there is nothing to evaluate. */
  get empty(): boolean {
    return this.#rules.length === 0;
  }

  #level(
    rule: ThresholdRule,
    value: number,
    current: Severity,
  ): { level: Severity; threshold: number | null } {
    const h = rule.hysteresis;
    // Hysteresis: staying at a level needs the value past its threshold minus h.
    const pass = (t: number | undefined, dir: "above" | "below", held: boolean) =>
      t !== undefined &&
      (dir === "above" ? value >= (held ? t - h : t) : value <= (held ? t + h : t));
    for (const level of ["emergency", "warn"] as const) {
      const held = RANK[current] >= RANK[level];
      for (const dir of ["above", "below"] as const) {
        const t = rule[dir]?.[level];
        if (pass(t, dir, held)) return { level, threshold: t! };
      }
    }
    return { level: "ok", threshold: null };
  }

  /** Events raised by these samples (in order). */
  evaluate(samples: Sample[], now: number): GatewayEvent[] {
    const events: GatewayEvent[] = [];
    for (const s of samples) {
      for (const { rule, match } of this.#rules) {
        const value = s.fields[rule.field];
        if (typeof value !== "number" || !match(s.node)) continue;
        const key = `${s.node}\u0000${rule.field}`;
        const current = this.#levels.get(key) ?? "ok";
        const { level, threshold } = this.#level(rule, value, current);
        if (level === current) continue;
        this.#levels.set(key, level);
        const id = crypto.randomUUID();
        events.push({
          id,
          type: level === "ok" ? "anomaly_cleared" : "anomaly",
          ts: now,
          node: s.node,
          data: {
            event_id: id,
            node: s.node,
            device: s.tags?.product ?? null,
            facility_id: s.tags?.facility_id ?? null,
            metric: rule.field,
            value,
            threshold,
            measured_at: new Date(s.ts).toISOString(),
            detected_at: new Date(now).toISOString(),
            severity: level === "ok" ? "ok" : level.toUpperCase(),
          },
        });
      }
    }
    return events;
  }
}
