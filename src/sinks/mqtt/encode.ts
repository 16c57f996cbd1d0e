import type { Envelope } from "../../model.ts";

/** One MQTT message to publish. */
export interface MqttMessage {
  topic: string;
  payload: string;
}

function fill(template: string, values: Record<string, string>): string {
  // MQTT wildcards and separators inside a value would change the topic's meaning.
  return template.replace(
    /\{(\w+)\}/g,
    (_, k) => (values[k] ?? "").replace(/[+#/]/g, "_"),
  );
}

/** Encodes envelopes to JSON messages on topics from the template. */
export function encodeMessages(
  batch: Envelope[],
  options: { topic: string; gatewayId: string },
): MqttMessage[] {
  const perField = options.topic.includes("{field}");
  const out: MqttMessage[] = [];
  for (const e of batch) {
    const values: Record<string, string> = { gateway: options.gatewayId, kind: e.kind };
    if (e.kind === "sample") {
      const s = e.data;
      Object.assign(values, { source: s.source, node: s.node });
      if (perField) {
        for (const [field, value] of Object.entries(s.fields)) {
          out.push({
            topic: fill(options.topic, { ...values, field }),
            payload: JSON.stringify({ value, ts: s.ts }),
          });
        }
        continue;
      }
      out.push({
        topic: fill(options.topic, values),
        payload: JSON.stringify({ ...s, gateway: options.gatewayId }),
      });
    } else if (e.kind === "window") {
      const w = e.data;
      Object.assign(values, { node: w.node, level: w.level });
      if (perField) {
        for (const [field, stats] of Object.entries(w.stats)) {
          out.push({
            topic: fill(options.topic, { ...values, field }),
            payload: JSON.stringify({ ...stats, start: w.start, end: w.end }),
          });
        }
        continue;
      }
      out.push({
        topic: fill(options.topic, values),
        payload: JSON.stringify({ ...w, gateway: options.gatewayId }),
      });
    } else if (e.kind === "event") {
      Object.assign(values, { node: e.data.node ?? "gateway", field: e.data.type });
      out.push({
        topic: fill(options.topic, values),
        payload: JSON.stringify({ type: e.data.type, gateway: options.gatewayId, ...e.data.data }),
      });
    }
  }
  return out;
}
