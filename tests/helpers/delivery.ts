/** Wires a real sink to a real outbox and delivery loop, as the agent does. */
import { createLogger } from "../../src/log.ts";
import type { Envelope } from "../../src/model.ts";
import { Delivery } from "../../src/outbox/delivery.ts";
import { Outbox } from "../../src/outbox/outbox.ts";
import { SINK_PLUGINS } from "../../src/sinks/registry.ts";
import type { DeliveryConfig } from "../../src/plugin.ts";
import { ComponentStatus } from "../../src/status.ts";
import { systemClock } from "../../src/util/clock.ts";

/** An outbox in a temp dir with one sink built from `config` (parsed by the sink's schema). */
export async function deliveryFor(config: Record<string, unknown>, options: { dir?: string } = {}) {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "delivery-" });
  const plugin = SINK_PLUGINS.find((p) => p.type === config.type)!;
  const parsed = plugin.schema.parse(config) as DeliveryConfig & Record<string, unknown>;
  const status = new ComponentStatus("sink", String(config.type));
  const log = createLogger("test.sink");
  const outbox = new Outbox({
    maxDeadLetterBytes: 16 * 1024 * 1024,
    path: `${dir}/outbox.db`,
    maxBytes: 512 * 1024 ** 2,
    maxAgeMs: 0,
    onFull: "drop_oldest",
    sync: "normal",
    log,
  });
  outbox.open();
  outbox.register("sink", { kinds: parsed.forward, nodes: parsed.nodes, status });
  const sink = plugin.create(parsed, {
    name: "sink",
    gatewayId: "gw-test",
    log,
    status,
    clock: systemClock,
  });
  const delivery = new Delivery("sink", { outbox, sink, config: parsed, status, log });
  return {
    dir,
    outbox,
    status,
    delivery,
    append: (envs: Envelope[]) => outbox.append(envs),
    async close() {
      await delivery.stop();
      outbox.close();
    },
  };
}
