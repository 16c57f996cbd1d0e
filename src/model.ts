/** A field value as it travels through the pipeline. */
export type FieldValue = number | string | boolean | null;

/** One reading of one node at one instant: the unit every source emits. */
export interface Sample {
  /** Name of the source (config key) that produced it. */
  source: string;
  /** Series owner: a device or logical node (e.g. `mppt1`). */
  node: string;
  /** Timestamp in milliseconds since the epoch (UTC). */
  ts: number;
  /** Measured values, already in SI units. */
  fields: Record<string, FieldValue>;
  /** Low-cardinality labels (device model, serial, site). */
  tags?: Record<string, string>;
}

/** Fields one sample may carry; payloads with more are refused (`too_many_fields`). */
export const MAX_FIELDS = 256;

/** About how many bytes a sample takes in memory (for byte-bounded buffers). */
export function sampleBytes(sample: Sample): number {
  let n = 64 + sample.node.length;
  for (const k in sample.fields) {
    const v = sample.fields[k];
    n += 16 + k.length + (typeof v === "string" ? v.length : 8);
  }
  return n;
}

/** Statistics of one numeric column over one window. */
export interface Stats {
  count: number;
  min: number;
  max: number;
  sum: number;
  avg: number;
  /** Configured percentiles (`p50`, `p95`, ...) of the window's values. */
  [percentile: `p${number}`]: number;
  /** Set when the percentiles could not be exact (a rollup whose raw seconds were trimmed). */
  approx?: boolean;
}

/** A closed, epoch-aligned aggregation window of one node. */
export interface Window {
  /** Level name from config, e.g. `1m`. */
  level: string;
  node: string;
  /** The source whose samples it summarises, when known (upstream layouts group by its kind). */
  source?: string;
  /** Window start in ms (the stamp); end is start + level length. */
  start: number;
  end: number;
  stats: Record<string, Stats>;
}

/** An event worth telling upstream (anomaly, alert, summary). */
export interface GatewayEvent {
  id: string;
  type: string;
  ts: number;
  node?: string;
  data: Record<string, unknown>;
}

/** How a policed value was typed (pepeunit's `state_type`, plus JSON). */
export type StateType = "Number" | "Text" | "Json";

/** A row of one of pepeunit's tables, made by a node's storage policy. */
export type Entry =
  | {
    table: "n_last_entry";
    node: string;
    ts: number;
    state: string;
    state_type: StateType;
    max_count: number;
    size: number;
  }
  | {
    table: "window_entry";
    node: string;
    ts: number;
    state: string;
    state_type: StateType;
    expires: number;
    size: number;
  }
  | {
    table: "aggregation_entry";
    node: string;
    ts: number;
    state: number;
    aggregation_type: "Avg" | "Min" | "Max" | "Sum";
    time_window_size: number;
    start: number;
    end: number;
    size: number;
  }
  | {
    table: "file_entry";
    node: string;
    ts: number;
    object_key: string;
    content_type: string;
    state_type: "Image" | "Binary";
    compression: string;
    /** Retention: the newest max_count rows per node (0: by expiry instead). */
    max_count: number;
    /** When the row and its object expire (ms; 0 = never). */
    expires: number;
    size: number;
    stored_size: number;
  }
  | {
    table: "timelapse_entry";
    node: string;
    /** When the video was built. */
    ts: number;
    object_key: string;
    first: number;
    last: number;
    frames: number;
    /** Seconds of video. */
    duration: number;
    /** Bytes of the video object. */
    size: number;
  };

/** An object to put in MinIO/S3 under a deterministic key. */
export interface StoredFile {
  node: string;
  ts: number;
  key: string;
  content_type: string;
  /** The object's bytes, base64 (the outbox stores JSON). */
  body: string;
  /** When the object may be deleted (ms; 0 = never). */
  expires: number;
}

/** What the outbox carries, tagged by kind so each sink picks what it forwards. */
export type Envelope =
  | { kind: "sample"; data: Sample }
  | { kind: "window"; data: Window }
  | { kind: "event"; data: GatewayEvent }
  | { kind: "entry"; data: Entry }
  | { kind: "file"; data: StoredFile };

/** The kinds a sink can ask for in its `forward` list. */
export type EnvelopeKind = Envelope["kind"];
