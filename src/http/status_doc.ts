/** The shape of the /status document, as the page and /metrics read it. */

/** The parts of a component's status that become metrics. */
export interface ComponentJson {
  name: string;
  kind: string;
  state: string;
  processed: number;
  failed: number;
  counters: Record<string, number>;
  dropped: Record<string, number>;
  last_success: string | null;
  last_error: { at: string; message: string } | null;
  last_record_at?: string | null;
  port?: string;
  node?: string;
  paused?: boolean;
  connected?: boolean;
  device?: {
    product?: string;
    serial?: string;
    values?: Record<string, unknown>;
    units?: Record<string, string>;
  };
  queue?: { records: number; bytes: number; oldest_age_ms: number | null };
  /** MQTT sources: how many nodes are tracked, and the busiest nodes' figures. */
  nodes_tracked?: number;
  nodes?: Record<
    string,
    { messages: number; bytes: number; stored_bytes?: number; dropped: Record<string, number> }
  >;
  /** MQTT sources with image policies: frames waiting on disk. */
  timelapse?: { ffmpeg: string; frames: number; bytes: number; max_bytes: number };
}

/** The /status document, as far as metrics read it. */
export interface StatusJson {
  status: string;
  config_file: string | null;
  uptime_s: number;
  version: string;
  gateway_id: string;
  store: ComponentJson & { levels?: string[] };
  outbox: ComponentJson & { bytes: number; max_bytes: number; recovered?: { moved_to: string } };
  /** The HTTP front: connections open, refused, timed out. */
  http: (ComponentJson & { connections: number }) | null;
  /** Errors no component caught. */
  process: ComponentJson;
  reload?: { at: string; ok: boolean; errors?: string[]; restart_required?: string[] };
  sources: Record<string, ComponentJson>;
  sinks: Record<string, ComponentJson>;
}
