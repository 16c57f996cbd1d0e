/** MQTT sources on `pepeunit/+/pepeunit` for the source tests: build one, publish numbers, read them back. */
import mqtt from "mqtt";
import type { SourceContext } from "../../src/plugin.ts";
import { MqttSource } from "../../src/sources/mqtt/mod.ts";
import { mqttSourceSchema } from "../../src/sources/mqtt/schema.ts";

/** An MQTT source for `pepeunit/+/pepeunit` on the broker at `port`, with these settings. */
export function unitsSource(port: number, ctx: SourceContext, settings: Record<string, unknown>) {
  const url = `mqtt://127.0.0.1:${port}`;
  return new MqttSource(
    mqttSourceSchema.parse({ type: "mqtt", url, topics: ["pepeunit/+/pepeunit"], ...settings }),
    ctx,
  );
}

/** Publishes the numbers `from` to `from + count - 1`, one after another (QoS 1), over 4 nodes. */
export async function publishNumbers(port: number, from: number, count: number): Promise<void> {
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
  try {
    for (let i = from; i < from + count; i++) {
      await pub.publishAsync(`pepeunit/n${i % 4}/pepeunit`, String(i), { qos: 1 });
    }
  } finally {
    await pub.endAsync();
  }
}

/** The samples' values, in order. */
export function sortedValues(ctx: { samples: { fields: Record<string, unknown> }[] }): number[] {
  return ctx.samples.map((s) => s.fields.value as number).sort((a, b) => a - b);
}
