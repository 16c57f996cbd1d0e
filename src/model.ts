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

/** Statistics of one numeric column over one window. */
export interface Stats {
  count: number;
  min: number;
  max: number;
  sum: number;
  avg: number;
}

/** A closed, epoch-aligned aggregation window of one node. */
export interface Window {
  /** Level name from config, e.g. `1m`. */
  level: string;
  node: string;
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

/** What the outbox carries, tagged by kind so each sink picks what it forwards. */
export type Envelope =
  | { kind: "sample"; data: Sample }
  | { kind: "window"; data: Window }
  | { kind: "event"; data: GatewayEvent };

/** The kinds a sink can ask for in its `forward` list. */
export type EnvelopeKind = Envelope["kind"];
