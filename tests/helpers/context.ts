/** A real SourceContext that collects what a source emits (no gateway needed). */
import { createLogger } from "../../src/log.ts";
import type { Envelope, Sample } from "../../src/model.ts";
import type { SourceContext } from "../../src/sources/source.ts";
import { ComponentStatus } from "../../src/status.ts";

/** A context for a source under test, and the samples and other records it emitted. */
export function collectingContext(
  name: string,
  options: { dataDir?: string } = {},
): SourceContext & { samples: Sample[]; envelopes: Envelope[] } {
  const samples: Sample[] = [];
  const envelopes: Envelope[] = [];
  return {
    name,
    gatewayId: "test",
    samples,
    envelopes,
    dataDir: options.dataDir ?? Deno.makeTempDirSync({ prefix: "source-" }),
    append: (batch) => void envelopes.push(...batch),
    log: createLogger(`test.${name}`),
    status: new ComponentStatus(name, "test"),
    emit: (batch) => {
      samples.push(...batch);
      return Promise.resolve();
    },
  };
}
