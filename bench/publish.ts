/**
 * Publishes MQTT messages as fast as the broker takes them, in its own process
 * so the publisher does not share the gateway's event loop:
 * `publish.ts URL COUNT NODES` (QoS 1, numbers and short text, topics pepeunit/<node>/pepeunit).
 */
import mqtt from "mqtt";

/** Starts this script as a child process publishing `count` messages over `nodes` nodes. */
export function spawnPublisher(url: string, count: number, nodes: number): Deno.ChildProcess {
  const args = ["run", "-A", new URL(import.meta.url).pathname, url, String(count), String(nodes)];
  return new Deno.Command(Deno.execPath(), { args }).spawn();
}

async function publish(url: string, count: number, nodes: number): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-publisher-${Deno.pid}` });
  const window = 2000;
  for (let i = 0; i < count; i += window) {
    const batch = [];
    for (let j = i; j < Math.min(i + window, count); j++) {
      const node = `00000000-0000-4000-8000-${String(j % nodes).padStart(12, "0")}`;
      batch.push(
        client.publishAsync(`pepeunit/${node}/pepeunit`, String(j % 1000 / 10), { qos: 1 }),
      );
    }
    await Promise.all(batch);
  }
  await client.endAsync();
}

if (import.meta.main) {
  const [url, count, nodes] = Deno.args;
  await publish(url, Number(count), Number(nodes));
}
