/** A real SourceContext that collects what a source emits (no gateway needed). */
import { createLogger } from "../../src/log.ts";
import type { Sample } from "../../src/model.ts";
import type { SourceContext } from "../../src/sources/source.ts";
import { ComponentStatus } from "../../src/status.ts";

/** A context for a source under test, and the samples it emitted. */
export function collectingContext(name: string): SourceContext & { samples: Sample[] } {
  const samples: Sample[] = [];
  return {
    name,
    gatewayId: "test",
    samples,
    log: createLogger(`test.${name}`),
    status: new ComponentStatus(name, "test"),
    emit: (batch) => {
      samples.push(...batch);
      return Promise.resolve();
    },
  };
}
