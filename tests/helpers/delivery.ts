/** A real sink on a real outbox, built by the component host exactly as the agent builds it. */
import { ComponentHost } from "../../src/host.ts";
import { createLogger } from "../../src/log.ts";
import type { Envelope } from "../../src/model.ts";
import { Outbox, type OutboxOptions } from "../../src/outbox/outbox.ts";
import type { DeliveryConfig } from "../../src/plugin.ts";
import { sinkPlugin } from "../../src/sinks/registry.ts";
import { systemClock } from "../../src/util/clock.ts";

/** An open outbox at `dir/outbox.db` (1 MiB, no sync, drop_oldest), with `options` over those. */
export function testOutbox(dir: string, options: Partial<OutboxOptions> = {}): Outbox {
  const outbox = new Outbox({
    path: `${dir}/outbox.db`,
    maxBytes: 1024 ** 2,
    maxDeadLetterBytes: 1024,
    maxAgeMs: 0,
    onFull: "drop_oldest",
    sync: "normal",
    log: createLogger("test.outbox"),
    ...options,
  });
  outbox.open();
  return outbox;
}

/** A sink's delivery settings for unit tests (samples, batches of 10, 1 s max_wait), `over` those. */
export function testDeliveryConfig(over: Partial<DeliveryConfig> = {}): DeliveryConfig {
  return {
    forward: ["sample"],
    nodes: [],
    fields: [],
    batch_size: 10,
    batch_bytes: 1024 ** 2,
    max_wait: 1000,
    backoff_min: 1000,
    backoff_max: 8000,
    timeout: 60_000,
    ...over,
  };
}

/**
 * An outbox in a temp dir with one sink named "sink" built from `config` (parsed by
 * the sink's schema); its delivery is started by the test (`delivery.start()`). `workers`: a
 * sink that asks for it runs in a Worker, as in the agent.
 */
export async function deliveryFor(
  config: Record<string, unknown>,
  options: { dir?: string; workers?: boolean } = {},
) {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "delivery-" });
  const plugin = sinkPlugin(String(config.type))!;
  const parsed = plugin.schema.parse(config) as { type: string } & Record<string, unknown>;
  const log = createLogger("test.sink");
  const outbox = testOutbox(dir, {
    maxBytes: 512 * 1024 ** 2,
    maxDeadLetterBytes: 16 * 1024 ** 2,
    log,
  });
  const host = new ComponentHost({
    outbox,
    gatewayId: "gw-test",
    dataDir: dir,
    clock: systemClock,
    log,
    workers: options.workers,
  });
  const delivery = host.startSink("sink", parsed, { deliver: false });
  return {
    dir,
    outbox,
    status: delivery.options.status,
    delivery,
    append: (envs: Envelope[]) => outbox.append(envs),
    async close() {
      await host.stopSinks();
      outbox.close();
    },
  };
}
