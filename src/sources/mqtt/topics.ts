/** Which node a topic belongs to, and what identifies a message on it. */
import { createHash } from "node:crypto";
import { nameProblem } from "../../names.ts";

/** mosquitto's count of messages it dropped (queue and in-flight limits), all clients together. */
export const BROKER_DROPPED = "$SYS/broker/publish/messages/dropped";

/** Topics remembered with their node at most (then the memory starts again). */
const REMEMBERED = 10_000;

/** The node id of a topic under a filter; null when the topic does not match it. */
export function nodeOf(topic: string, filter: string, segment: number): string | null {
  const t = topic.split("/");
  const f = filter.split("/");
  const plus: string[] = [];
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return plus[segment - 1] ?? (plus.length === 0 ? topic : null);
    if (i >= t.length) return null;
    if (f[i] === "+") plus.push(t[i]);
    else if (f[i] !== t[i]) return null;
  }
  if (t.length !== f.length) return null;
  return plus.length === 0 ? topic : plus[segment - 1] ?? null;
}

/**
 * Topics seen lately and their node (null: the id is unusable): most messages come on a few
 * topics again and again, so matching and validation happen once per topic.
 */
export class TopicNodes {
  readonly #known = new Map<string, string | null>();

  constructor(readonly filters: string[], readonly segment: number) {}

  /** The node of `topic` under the first filter it matches (the topic itself under none). */
  of(topic: string): string | null {
    const known = this.#known.get(topic);
    if (known !== undefined) return known;
    let node: string | null = topic;
    for (const filter of this.filters) {
      const n = nodeOf(topic, filter, this.segment);
      if (n !== null) {
        node = n;
        break;
      }
    }
    if (nameProblem(node) !== null) node = null;
    if (this.#known.size >= REMEMBERED) this.#known.clear();
    this.#known.set(topic, node);
    return node;
  }
}

/** Identifies a message's content: a redelivery carries the same packet id and digest. */
export function digestOf(topic: string, message: Uint8Array): string {
  return createHash("sha1").update(topic).update("\u0000").update(message).digest("base64");
}
