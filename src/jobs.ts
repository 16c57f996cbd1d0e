/**
 * The gateway's periodic work, put on a {@link Scheduler}: store flush, window
 * aggregation, outbox compaction, alert rules and `data_saved` summaries.
 */
import type { GatewayConfig } from "./config/schema.ts";
import type { Control } from "./control.ts";
import type { Outbox } from "./outbox/outbox.ts";
import type { Pipeline } from "./pipeline.ts";
import { Alerts } from "./rules/alerts.ts";
import { Summary } from "./rules/summary.ts";
import type { Scheduler } from "./scheduler.ts";
import { storeFlushInterval } from "./store/mod.ts";
import type { Store } from "./store/store.ts";

/** What the jobs work on. */
export interface JobParts {
  store: Store;
  outbox: Outbox;
  pipeline: Pipeline;
  control: Control;
  /** One aggregation pass (the agent's, which counts its failures). */
  aggregate: () => Promise<void>;
}

/** Puts every periodic job the config asks for on the scheduler. */
export function scheduleJobs(jobs: Scheduler, config: GatewayConfig, parts: JobParts): void {
  const { store, outbox, pipeline, control } = parts;
  jobs.every("store flush", storeFlushInterval(config), () => store.flush());
  jobs.every("window aggregation", config.store.aggregate_every, parts.aggregate);
  jobs.every("outbox compaction", 30_000, () => outbox.compact());
  const { events } = config;
  if (events.alerts.length > 0) {
    const alerts = new Alerts(events.alerts);
    jobs.every("alert rules", events.check_every, () => {
      pipeline.raise(alerts.evaluate(control.status(), control.clock.now()));
    });
  }
  if (events.summary_every > 0) {
    const summary = new Summary(control.startedAt);
    const location = config.store.type === "redis"
      ? "redis"
      : `${config.gateway.data_dir}/store.db`;
    jobs.every("summary", events.summary_every, () => {
      const event = summary.next(control.clock.now(), {
        stored: store.status.processed,
        failed: store.status.failed,
        location,
        outboxBytes: outbox.bytes,
      });
      // As DataLake: "data saved" only when the period saved data, never an empty one.
      if (Number(event.data.records) > 0 || Number(event.data.errors) > 0) {
        pipeline.raise([event]);
      }
    });
  }
}
