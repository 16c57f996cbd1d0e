/**
 * Publishes MQTT messages as fast as the broker takes them, in its own process
 * so the publisher does not share the gateway's event loop:
 * `publish.ts URL COUNT NODES` (QoS 1, numbers and short text, topics pepeunit/<node>/pepeunit).
 */
import mqtt from "mqtt";

const [url, countArg, nodesArg] = Deno.args;
const count = Number(countArg);
const nodes = Number(nodesArg);
const client = await mqtt.connectAsync(url, { clientId: `bench-publisher-${Deno.pid}` });
const window = 2000;
for (let i = 0; i < count; i += window) {
  const batch = [];
  for (let j = i; j < Math.min(i + window, count); j++) {
    const node = `00000000-0000-4000-8000-${String(j % nodes).padStart(12, "0")}`;
    batch.push(client.publishAsync(`pepeunit/${node}/pepeunit`, String(j % 1000 / 10), { qos: 1 }));
  }
  await Promise.all(batch);
}
await client.endAsync();
