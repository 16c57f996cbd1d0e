/**
 * A VE.Direct source on one end of a socat pty and the CLI's simulated device on the other,
 * every HEX request it reads kept: the set-up of the source-level settings tests.
 */
import { simulateToPort } from "../../src/cli/simulate.ts";
import { VeDirectSource } from "../../src/sources/vedirect/mod.ts";
import { vedirectSchema } from "../../src/sources/vedirect/schema.ts";
import type { SimulatedDevice } from "../../src/sources/vedirect/simulator.ts";
import { collectingContext } from "./context.ts";
import { PtyPair } from "./pty.ts";
import { waitFor } from "./servers.ts";

/**
 * Starts the source (`hex_timeout: 500ms`, no day-history gets of its own, then `config`) and a
 * `device` writing a frame every 100 ms (`silent`: it never answers HEX); resolves once the
 * source has two records.
 */
export async function sourceOnPty(
  device: SimulatedDevice,
  options: { silent?: boolean; config?: Record<string, unknown> } = {},
) {
  const pty = await PtyPair.create();
  const ctx = collectingContext(device);
  const source = new VeDirectSource(
    vedirectSchema.parse({
      type: "vedirect",
      port: pty.device,
      hex_timeout: "500ms",
      history_every: 0, // the line carries only the test's requests
      ...options.config,
    }),
    ctx,
  );
  await source.start();
  const requests: string[] = [];
  const abort = new AbortController();
  const playing = simulateToPort(pty.peer, {
    device,
    intervalMs: 100,
    count: 0,
    signal: abort.signal,
    silent: options.silent,
    onRequest: (r) => requests.push(r.trim()),
  }).catch(() => 0);
  const dispose = async () => {
    await source.stop();
    abort.abort();
    await playing;
    await pty.unplug();
  };
  try {
    await waitFor(() => ctx.samples.length >= 2, { what: "first records" });
  } catch (e) {
    await dispose();
    throw e;
  }
  return {
    source,
    ctx,
    /** The HEX requests the device read, in order (trimmed). */
    requests,
    [Symbol.asyncDispose]: dispose,
  };
}
