/** What the policies keep of each node between messages (persisted as JSON). */
import type { Entry } from "../model.ts";
import type { FilterMemory } from "./filters.ts";

/** An Aggregation window being accumulated. */
export interface Accumulator {
  start: number;
  end: number;
  window: number;
  functions: ("Avg" | "Min" | "Max" | "Sum")[];
  count: number;
  sum: number;
  min: number;
  max: number;
  bytes: number;
}

/** What the gateway keeps of a node between messages (persisted). */
export interface NodeState {
  /** The last timestamp given to a row: rows of one node never share one. */
  lastTs: number;
  /** Files stored, for the NRecords slot. */
  seq: number;
  memory: FilterMemory;
  /** When the last LastValue row was written, and the one waiting for its turn. */
  writtenAt?: number;
  pending?: Entry;
  /** When the pending LastValue row is due. */
  pendingDue?: number;
  agg?: Accumulator;
  /** Payload bytes this node has had stored (accepted by its policy). */
  stored: number;
}
