/**
 * mqtt.js alone, in a process of its own: `mqtt_counter.ts URL FILTER COUNT` subscribes
 * with QoS 1 and only counts messages. It prints `ready` once subscribed and
 * `received N` when it has COUNT (or its stdin closes). The bench reads its CPU
 * time from /proc, as it reads the gateway's, so both are measured the same way.
 *
 * mqtt.js comes as the gateway loads it (`loadMqtt`: deno.json's npm:mqtt, its
 * packet codec's disabled `debug` traces made free), with the gateway's protocol
 * (MQTT 5) and runtime flags, so the figure is the library's own share of the
 * gateway's cost, not that of trace calls the gateway never makes.
 */
import { RUN_ENV, RUN_FLAGS } from "../tests/helpers/cli.ts";
import { loadMqtt } from "../src/mqtt/load.ts";

/** A running counter process. */
export interface Counter {
  pid: number;
  /** Resolves once the subscription is acknowledged. */
  ready: Promise<void>;
  /** Resolves with how many messages it received, once it has all (or was stopped). */
  received: Promise<number>;
  /** Ends it (it reports what it has) and waits for the process to exit. */
  stop(): Promise<void>;
}

/** Starts the counter as a child process with the gateway's Deno flags and environment. */
export function spawnCounter(url: string, filter: string, count: number): Counter {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, new URL(import.meta.url).pathname, url, filter, String(count)],
    env: RUN_ENV,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const ready = Promise.withResolvers<void>();
  const received = Promise.withResolvers<number>();
  (async () => {
    let text = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (text.includes("ready\n")) ready.resolve();
      const n = /received (\d+)\n/.exec(text);
      if (n) received.resolve(Number(n[1]));
    }
    ready.reject(new Error("the mqtt.js counter exited before it subscribed"));
    received.resolve(0);
  })();
  ready.promise.catch(() => {}); // awaited by the caller; an exit after `received` is fine
  const writer = child.stdin.getWriter();
  return {
    pid: child.pid,
    ready: ready.promise,
    received: received.promise,
    async stop() {
      await writer.close().catch(() => {});
      const { success } = await child.status;
      if (!success) throw new Error("the mqtt.js counter failed (its stderr is above)");
    },
  };
}

async function count(url: string, filter: string, expected: number): Promise<void> {
  const mqtt = (await loadMqtt()).default;
  const client = await mqtt.connectAsync(url, {
    clientId: `bench-counter-${Deno.pid}`,
    protocolVersion: 5,
    log: () => {},
  });
  const out = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
  let n = 0;
  const done = Promise.withResolvers<void>();
  client.on("message", () => {
    if (++n === expected) done.resolve();
  });
  await client.subscribeAsync(filter, { qos: 1 });
  out("ready");
  // The bench closes stdin to end a run that did not get everything.
  const stdinClosed = (async () => {
    for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
  })();
  await Promise.race([done.promise, stdinClosed]);
  out(`received ${n}`);
  await stdinClosed;
  await client.endAsync();
}

if (import.meta.main) {
  const [url, filter, expected] = Deno.args;
  await count(url, filter, Number(expected));
}
