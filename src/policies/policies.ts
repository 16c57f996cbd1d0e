/**
 * Per-node storage policies: each node's values go through its own active
 * period, filters, transformations and buffer, and come out as rows of
 * pepeunit's tables (and objects for files). Unlike pepeunit, no buffer is
 * shared between nodes, and the buffers' state lives in SQLite so a restart
 * loses neither an Aggregation window in progress nor a pending LastValue.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Logger } from "../log.ts";
import type { Envelope } from "../model.ts";
import type { Payload } from "../payload.ts";
import { fileEnvelopes, videoEnvelopes } from "./files.ts";
import type { NodeState } from "./state.ts";
import type { ImageFormat } from "../images/ffmpeg.ts";
import type { Video } from "../images/timelapse.ts";
import { imageDimensions } from "../images/dimensions.ts";
import { filterValue, isActive, rateLimited, transform } from "./filters.ts";
import { parseGoFloat } from "./go_float.ts";
import { valueRows, windowRows } from "./rows.ts";
import type { PoliciesConfig, Policy } from "./schema.ts";
import { NodeStates } from "./node_states.ts";
import {
  DamagedFileError,
  moveAside,
  openChecked,
  type Recovery,
  recovery,
} from "../util/sqlite.ts";
import { errorMessage } from "../status.ts";

/** What a policy made of one message. */
export type Verdict =
  | { kind: "unpoliced" }
  | { kind: "dropped"; reason: string }
  /** An image for the node's image policy: the source normalises it (async, ffmpeg). */
  | { kind: "image"; format: ImageFormat; policy: Policy; ts: number }
  | { kind: "accepted"; envelopes: Envelope[] };

/** Options of {@link Policies}. */
export interface PoliciesOptions {
  /** SQLite file holding each node's buffers. */
  path: string;
  log: Logger;
  /** Node states held in memory at most (default 10000); the rest stay in the file. */
  maxInMemory?: number;
}

/** The storage policies of one source's nodes. */
export class Policies {
  #config: PoliciesConfig;
  #db: DatabaseSync | null = null;
  #states: NodeStates<NodeState> | null = null;
  /** Rows the outbox could not take yet (persisted with the buffers, handed over first). */
  #carry: Envelope[] = [];
  #carryDirty = false;

  constructor(config: PoliciesConfig, readonly options: PoliciesOptions) {
    this.#config = config;
  }

  /** The policies in force. */
  get config(): PoliciesConfig {
    return this.#config;
  }

  /**
   * Opens the state file. Nothing is loaded but rows the outbox refused: node
   * states are read when their node is heard from or has work due.
   */
  open(): void {
    const path = this.options.path;
    let db: DatabaseSync;
    try {
      db = openChecked(path, { synchronous: "NORMAL" });
    } catch (e) {
      if (!(e instanceof DamagedFileError)) throw e;
      // Buffers in progress are lost with the file; what the outbox holds is not.
      const aside = moveAside(path);
      this.options.log.error("policy state file is damaged; moved aside, starting a new one", {
        path,
        moved_to: aside,
        error: errorMessage(e),
      });
      this.recovered = recovery(aside, e);
      db = openChecked(path, { synchronous: "NORMAL" });
    }
    this.#states = new NodeStates<NodeState>(db, {
      maxInMemory: this.options.maxInMemory ?? 10_000,
      due: (s) => {
        const pending = s.pending ? s.pendingDue ?? s.writtenAt ?? 0 : Infinity;
        const due = Math.min(s.agg?.end ?? Infinity, pending);
        return due === Infinity ? null : due;
      },
    });
    const carry = db.prepare("SELECT state FROM nodes WHERE node = ?").get(CARRY);
    if (carry) this.#carry = JSON.parse(String(carry.state));
    this.#db = db;
  }

  /** Set when the state file was damaged at open and moved aside. */
  recovered: Recovery | null = null;

  /** Swaps the policy documents in place (hot reload); buffers carry on. */
  update(config: PoliciesConfig): void {
    this.#config = config;
  }

  /** The node's policy, or undefined when it has none (or it is disabled). */
  policyOf(node: string): Policy | undefined {
    const p = this.#config.nodes[node] ?? this.#config.default;
    return p?.enabled ? p : undefined;
  }

  /** Payload bytes each node has had stored. */
  storedBytes(node: string): number {
    return this.#states?.get(node)?.stored ?? 0;
  }

  #state(node: string): NodeState {
    return this.#states!.change(node, () => ({ lastTs: 0, seq: 0, memory: {}, stored: 0 }));
  }

  /** Runs one message through its node's policy. */
  accept(
    node: string,
    message: Uint8Array,
    options: { payload: Payload; now: number },
  ): Verdict {
    const policy = this.policyOf(node);
    if (!policy) return { kind: "unpoliced" };
    const { payload, now } = options;
    if (!isActive(policy, now)) return dropped("inactive");
    // To pepeunit every payload is text: JSON that does not parse is still text to a node that
    // stores values; only nodes without a processing policy (files, images) refuse it.
    if (payload.kind === "invalid" && !policy.processing_policy) return dropped(payload.reason);
    const size = message.length;
    const s = this.#state(node);
    if (policy.image_policy) {
      // Images only, recognised by content; normalised and accumulated by the source (ffmpeg).
      if (payload.kind !== "image") return dropped("not_an_image");
      if (size > policy.image_policy.max_size) return dropped("over_max_size");
      // Judged from the header, before ffmpeg decodes anything.
      const dims = imageDimensions(message, payload.format);
      if (!dims) return dropped("corrupt_image");
      if (dims.width * dims.height > policy.image_policy.max_pixels) {
        return dropped("over_max_pixels");
      }
      const reason = this.#rateLimit(policy, s, now);
      if (reason) return dropped(reason);
      // Frames are files named by their time: one node's never share a millisecond.
      const ts = s.lastTs = Math.max(now, s.lastTs + 1);
      return { kind: "image", format: payload.format, policy, ts };
    }
    // max_size 0 is no limit, as in pepeunit (the source's own max_size still bounds it).
    const maxSize = policy.filters?.max_size;
    if (maxSize !== undefined && maxSize > 0 && size > maxSize) {
      return dropped("over_max_size");
    }
    if (payload.kind === "image" || payload.kind === "binary") {
      const fp = policy.file_policy;
      if (!fp) return dropped(`${payload.kind}_not_accepted`);
      if (size > fp.max_size) return dropped("over_max_size");
      const reason = this.#rateLimit(policy, s, now);
      if (reason) return dropped(reason);
      const format = payload.kind === "image" ? payload.format : null;
      return {
        kind: "accepted",
        envelopes: fileEnvelopes(node, message, { policy, state: s, format, now }),
      };
    }
    const rule = policy.processing_policy;
    if (!rule) return dropped(`${payload.kind}_not_accepted`);
    // pepeunit keeps the payload text as received; JSON is text to it (its readers know Number
    // and Text only). type_input_value sets the state_type; without it, the content does.
    const raw = UTF8.decode(message);
    const type = policy.filters?.type_input_value ??
      (payload.kind === "number" ? "Number" : "Text");
    const reason = filterValue(policy, { text: raw, number: parseGoFloat(raw), type }, {
      now,
      memory: s.memory,
    });
    if (reason) return dropped(reason);
    const text = transform(policy, { text: raw, number: null, type });
    const number = parseGoFloat(text);
    if (rule.policy_type === "Aggregation" && (number === null || !Number.isFinite(number))) {
      return dropped("text_not_accepted_by_Aggregation");
    }
    s.lastTs = Math.max(now, s.lastTs + 1);
    s.stored += size;
    return {
      kind: "accepted",
      envelopes: valueRows(node, text, { rule, type, number, now, size, state: s }),
    };
  }

  /** Files and images: at most one per filters.max_rate seconds. */
  #rateLimit(policy: Policy, s: NodeState, now: number): string | null {
    if (rateLimited(policy, s.memory, now)) return "rate_limited";
    s.memory.acceptedAt = now;
    return null;
  }

  /**
   * The object and its file_entry row for a normalised frame (none without a
   * file_policy); its bytes count as stored for the node.
   */
  imageFile(
    node: string,
    frame: Uint8Array,
    options: { format: ImageFormat; now: number },
  ): Envelope[] {
    const policy = this.policyOf(node);
    if (!policy?.file_policy) return [];
    return fileEnvelopes(node, frame, { policy, state: this.#state(node), ...options });
  }

  /** The video object and its timelapse_entry row; its bytes count as stored for the node. */
  video(node: string, video: Video, options: { now: number }): Envelope[] {
    return videoEnvelopes(node, video, { state: this.#state(node), now: options.now });
  }

  /** Rows of the node's ended Aggregation window, which leaves its state. */
  #finish(node: string, s: NodeState): Envelope[] {
    const rows = windowRows(node, s.agg!);
    s.agg = undefined;
    this.#states!.touch(node, s);
    return rows;
  }

  /**
   * Keeps rows the outbox refused, to be handed over again by the next tick: by
   * then the buffers no longer hold them, so they must not be lost.
   */
  putBack(envelopes: Envelope[]): number {
    const room = MAX_CARRY - this.#carry.length;
    this.#carry.push(...envelopes.slice(0, Math.max(0, room)));
    this.#carryDirty = true;
    return Math.max(0, envelopes.length - room);
  }

  /** Rows put back earlier, LastValue rows whose interval has passed and ended Aggregation windows. */
  tick(now: number): Envelope[] {
    const out: Envelope[] = this.#carry;
    this.#carry = [];
    if (out.length > 0) this.#carryDirty = true;
    const states = this.#states!;
    for (const node of states.due(now, MAX_DUE_PER_TICK)) {
      const s = states.get(node);
      if (!s) continue;
      if (s.agg && now >= s.agg.end) out.push(...this.#finish(node, s));
      if (s.pending && now >= (s.pendingDue ?? 0)) {
        out.push({ kind: "entry", data: s.pending });
        s.pending = s.pendingDue = undefined;
        s.writtenAt = now;
        states.touch(node, s);
      }
    }
    return out;
  }

  /** Persists the buffers changed since the last commit (call after the outbox took their rows). */
  commit(): void {
    const states = this.#states;
    if (!states || (states.changed === 0 && !this.#carryDirty)) return;
    const carry = this.#carryDirty ? this.#carry : null;
    states.commit(carry ? (put) => put(CARRY, carry) : undefined);
    this.#carryDirty = false;
  }

  /** Persists and closes the state file. */
  close(): void {
    try {
      this.commit();
    } finally {
      this.#db?.close();
      this.#db = null;
      this.#states = null;
    }
  }
}

const UTF8 = new TextDecoder();

/** Nodes with work due handled per tick at most (the rest come with the next). */
const MAX_DUE_PER_TICK = 10_000;

/** The state row holding rows put back; no node id is empty. */
const CARRY = "";
/** Rows kept while the outbox refuses them; more are counted as dropped. */
const MAX_CARRY = 100_000;

function dropped(reason: string): Verdict {
  return { kind: "dropped", reason };
}
