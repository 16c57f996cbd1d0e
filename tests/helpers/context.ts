/** A real SourceContext that collects what a source emits (no gateway needed). */
import { createLogger } from "../../src/log.ts";
import type { Envelope, Sample } from "../../src/model.ts";
import type { SourceContext } from "../../src/plugin.ts";
import { SeriesStamps } from "../../src/stamps.ts";
import { ComponentStatus } from "../../src/status.ts";
import { type Clock, systemClock } from "../../src/util/clock.ts";

/** A context for a source under test, and the samples and other records it emitted. */
export function collectingContext(
  name: string,
  options: { dataDir?: string; clock?: Clock } = {},
): SourceContext & { samples: Sample[]; envelopes: Envelope[] } {
  const clock = options.clock ?? systemClock;
  const stamps = new SeriesStamps(clock);
  const samples: Sample[] = [];
  const receipts = new Map<string, string>();
  const envelopes: Envelope[] = [];
  return {
    name,
    gatewayId: "test",
    samples,
    envelopes,
    dataDir: options.dataDir ?? Deno.makeTempDirSync({ prefix: "source-" }),
    append: (batch) => void envelopes.push(...batch),
    clock,
    stamp: (node, at) => stamps.next(node, at),
    log: createLogger(`test.${name}`),
    status: new ComponentStatus(name, "test"),
    emit: (batch, options) => {
      samples.push(...batch);
      for (const [id, digest] of options?.receipts ?? []) receipts.set(id, digest);
      return Promise.resolve();
    },
    receipt: (id) => receipts.get(id),
  };
}
