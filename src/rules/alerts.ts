import type { GatewayEvent } from "../model.ts";
import type { AlertRule } from "./schema.ts";

function lookup(doc: unknown, path: string): number | undefined {
  let v: unknown = doc;
  for (const part of path.split(".")) {
    if (!v || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === "number" ? v : undefined;
}

/** Alerts on the gateway's own figures (from /status), at most one per cool-down per rule. */
export class Alerts {
  #last = new Map<string, number>();

  constructor(readonly rules: AlertRule[]) {}

  /** Alert events for the current status document. */
  evaluate(status: { gateway_id?: string }, now: number): GatewayEvent[] {
    const events: GatewayEvent[] = [];
    for (const rule of this.rules) {
      const value = lookup(status, rule.metric);
      if (value === undefined || value <= rule.above) continue;
      const last = this.#last.get(rule.name);
      if (last !== undefined && now - last < rule.cooldown) continue;
      this.#last.set(rule.name, now);
      const id = crypto.randomUUID();
      events.push({
        id,
        type: "alert",
        ts: now,
        data: {
          event_id: id,
          alert: rule.name,
          metric: rule.metric,
          value,
          threshold: rule.above,
          gateway_id: status.gateway_id ?? null,
          detected_at: new Date(now).toISOString(),
        },
      });
    }
    return events;
  }
}
