/** The wall clock's figures in /metrics: its steps and whether it is synchronised. */
import type { Counter, Gauge, Registry } from "prom-client";
import type { StatusJson } from "../status_report.ts";

/** The prom-client classes used (the module is loaded with the first scrape). */
type PromClient = { Counter: typeof Counter; Gauge: typeof Gauge };

/** Registers the clock's metrics; `snap` gives the /status document of the scrape. */
export function registerClockMetrics(
  client: PromClient,
  registry: Registry,
  snap: () => StatusJson | null,
): void {
  const clock = () => snap()?.clock ?? null;
  new client.Counter({
    name: "edge_clock_steps_total",
    help: "Steps of the wall clock seen against the monotonic clock (NTP, date -s), both ways",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(clock()?.steps ?? 0);
    },
  });
  new client.Gauge({
    name: "edge_clock_last_step_seconds",
    help: "Size of the last wall-clock step (negative: back); 0 before any",
    registers: [registry],
    collect() {
      this.set((clock()?.last_step?.by_ms ?? 0) / 1000);
    },
  });
  new client.Gauge({
    name: "edge_clock_last_step_timestamp_seconds",
    help: "When the last wall-clock step was seen (epoch s, the stepped clock); 0 before any",
    registers: [registry],
    collect() {
      const at = clock()?.last_step?.at;
      this.set(at ? Date.parse(at) / 1000 : 0);
    },
  });
  new client.Gauge({
    name: "edge_clock_catching_up_seconds",
    help: "How far the gateway's time is ahead of the wall clock while it absorbs a step back",
    registers: [registry],
    collect() {
      this.set((clock()?.catching_up_ms ?? 0) / 1000);
    },
  });
  new client.Gauge({
    name: "edge_clock_synchronized",
    help:
      "1 when the kernel's clock is synchronised (systemd-timesyncd), 0 when not; absent unknown",
    registers: [registry],
    collect() {
      this.reset();
      const s = clock()?.synchronized;
      if (typeof s === "boolean") this.set(+s);
    },
  });
}
