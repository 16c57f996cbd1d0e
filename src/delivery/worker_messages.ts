/** What the main thread and a sink's Worker (sink_worker.ts) pass each other through the bridge. */
import type { LogShare } from "../outbox/cursors.ts";
import type { BatchPlace } from "./batch_writer.ts";
import type { SinkSetup } from "./sink_context.ts";

/** `init`: the sink to make, and the outbox file and share its batches are read from. */
export interface SinkWorkerInit extends SinkSetup {
  log: LogShare & { path: string };
}

/** The host's views a sink reads, as of a call (they cannot be asked across threads). */
export interface HostView {
  /** The kind of each configured source, by name. */
  kinds: Record<string, string>;
  /** Nodes whose source says their device went silent. */
  stale: string[];
  /** The gateway clock's time when the call was made. */
  now: number;
}

/** `write`: the batch after a place. */
export interface WriteCall {
  place: BatchPlace;
  view: HostView;
}

/** The sink's own figures (its counters and status info), posted after every call. */
export interface SinkFigures {
  figures: { counters: Record<string, number>; info: Record<string, unknown> };
}
