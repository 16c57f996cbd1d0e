/** Per-node figures of an MQTT source: messages, bytes and drops by reason, bounded in nodes. */
import type { ComponentStatus } from "../../status.ts";
import { LruMap } from "../../util/lru.ts";

/** Nodes listed in /status (the busiest first). */
const BUSIEST = 100;

/** One node's figures. */
export interface NodeStats {
  messages: number;
  bytes: number;
  dropped: Record<string, number>;
}

/** The figures of the nodes heard lately (node ids come from topics: the least recent go). */
export class NodeFigures {
  readonly #nodes: LruMap<string, NodeStats>;

  constructor(maxNodes: number, readonly status: ComponentStatus) {
    this.#nodes = new LruMap(maxNodes, () => status.count("nodes_evicted"));
  }

  /** Nodes tracked now. */
  get size(): number {
    return this.#nodes.size;
  }

  /** A node's figures, if it was heard lately. */
  get(node: string): NodeStats | undefined {
    return this.#nodes.get(node);
  }

  /** A node's figures, started when it is new. */
  heard(node: string): NodeStats {
    let s = this.#nodes.get(node);
    if (!s) this.#nodes.set(node, s = { messages: 0, bytes: 0, dropped: {} });
    return s;
  }

  /** Counts a dropped message for the node and for the source. */
  drop(node: string, reason: string): void {
    const s = this.heard(node);
    s.dropped[reason] = (s.dropped[reason] ?? 0) + 1;
    this.status.drop(reason);
  }

  /** Shows the busiest nodes in /status, read when it is rendered (not on every message). */
  show(storedBytes: (node: string) => number): void {
    Object.defineProperty(this.status.info, "nodes", {
      enumerable: true,
      configurable: true,
      get: () => {
        const top = [...this.#nodes].sort((a, b) => b[1].messages - a[1].messages)
          .slice(0, BUSIEST);
        return Object.fromEntries(
          top.map(([node, s]) => [node, { ...s, stored_bytes: storedBytes(node) }]),
        );
      },
    });
    Object.defineProperty(this.status.info, "nodes_tracked", {
      enumerable: true,
      configurable: true,
      get: () => this.#nodes.size,
    });
  }
}
