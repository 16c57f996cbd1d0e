/** The contract between the HTTP API and the running gateway (Control implements it). */
import type { SettingsAccess } from "../device_settings.ts";
import type { Sample } from "../model.ts";
import type { DeadLetter } from "../outbox/dead_letters.ts";
import type { Health, StatusJson } from "../status_report.ts";
import type { SeriesQuery } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";

/** What the HTTP API reads from and asks of the running gateway. */
export interface GatewayView {
  /** The gateway's time. */
  readonly clock: Clock;
  /** The site's time zone (IANA) for days and times on pages. */
  readonly timeZone: string;
  /** An arrival stamp for a sample of `node`, unique within its series. */
  stamp(node: string): number;
  health(): Health;
  status(): StatusJson;
  /** Each node's latest sample and its source's kind (for /metrics). */
  readings(): { sample: Sample; kind: string }[];
  query(query: SeriesQuery): Promise<unknown[]>;
  /** The nodes the store holds or the gateway has heard, sorted. */
  nodes(): Promise<string[]>;
  sync(): Promise<Record<string, { sent: number; error?: string }>>;
  /** Hands samples to the pipeline; resolves once they are durably accepted. */
  ingest(samples: Sample[], options?: { clamped?: number }): Promise<void>;
  /** Counts a refused /ingest body by reason. */
  ingestRejected(reason: string): void;
  /** Re-reads the config file and applies what changed; an invalid file changes nothing. */
  reload(): Promise<ReloadResult>;
  /** Pauses or resumes a sink; false when there is no such sink. */
  setSinkPaused(name: string, paused: boolean): boolean;
  /** Records upstreams refused, newest first. */
  deadLetters(options: { sink?: string; limit: number; data: boolean }): DeadLetter[];
  /** Delivers a sink's dead letters again; null when there is no such sink. */
  replayDeadLetters(
    sink: string,
  ): Promise<{ replayed: number; refused: number; error?: string } | null>;
  /** Deletes dead letters (of one sink, or all); returns how many. */
  purgeDeadLetters(sink?: string): number;
  /** The devices' settings (VE.Direct HEX); changes are audited. */
  readonly settings: SettingsAccess;
}

/** What a reload did. */
export interface ReloadResult {
  ok: boolean;
  errors?: string[];
  /** Sources and sinks started, stopped or restarted. */
  changed?: string[];
  /** Sections that only take effect after a restart. */
  restart_required?: string[];
}
