/**
 * Who may change a device through MQTT. MQTT does not tell a subscriber who published a message
 * (an MQTT 5 user property is whatever the publisher wrote), so the identity is the broker's to
 * enforce: its ACL lets one user publish the write topics. The config names that user, and the
 * gateway checks at every connection that the broker does refuse the write topics to a client
 * without credentials; until that check passes, or when it fails, writes are refused.
 */
import { z } from "zod";
import { type BrokerConfig, closeBroker, connectBroker } from "./broker.ts";
import { ComponentStatus, errorMessage } from "../status.ts";
import type { Logger } from "../log.ts";

/** Config of MQTT writes (`writes:` of a sink that takes them). */
export const writesSchema = z.strictObject({
  /** Off unless turned on: an MQTT client can switch a charger off. */
  enabled: z.boolean().default(false),
  /** The broker user whose writes are taken: the one the broker's ACL lets publish them. */
  from: z.string().min(1).optional(),
  /** Check at each connection that a client without credentials cannot publish writes. */
  verify_acl: z.boolean().default(true),
}).refine((w) => !w.enabled || w.from, {
  message: "writes.enabled needs writes.from: the broker user allowed to publish writes " +
    '(docs/security.md, "Who may change a device over MQTT")',
}).default({ enabled: false, verify_acl: true });

/** Parsed `writes:`. */
export type WritesConfig = z.output<typeof writesSchema>;

/** CONNACK codes that refuse a client without credentials (3.1.1: 4, 5; MQTT 5: 0x86, 0x87). */
const REFUSED_CONNECTION = new Set([4, 5, 0x86, 0x87]);

/** How long the probe's message may take to come back on the gateway's own subscription. */
const PROBE_WAIT_MS = 2000;

/** Whose connection probes, and the write topics' prefix (`W/<portal>/`). */
export interface ProbeContext {
  name: string;
  gatewayId: string;
  prefix: string;
}

/** What the policy says of a write now: null when it may be applied, else why not. */
export class WritePolicy {
  #refusal: string | null;
  #probing: Promise<void> = Promise.resolve();
  #nonce = "";

  /**
   * `topic`: the write topics' filter; `acl`: where the sink's page gives the broker's ACL (a
   * path and heading, for the fix an operator is told).
   */
  constructor(
    readonly config: WritesConfig,
    readonly options: { log: Logger; topic: string; acl?: string },
  ) {
    this.#refusal = !config.enabled
      ? "writes disabled (writes.enabled is false)"
      : config.verify_acl
      ? "the broker's ACL is not verified yet"
      : null;
    if (config.enabled && !config.verify_acl) {
      options.log.warn("MQTT writes are taken without checking the broker's ACL", {
        topic: options.topic,
        from: config.from,
      });
    }
  }

  /** Null when a write may be applied, otherwise the reason it is refused. */
  get refusal(): string | null {
    return this.#refusal;
  }

  /** Who a write comes from, as far as the broker guarantees it. */
  get who(): string {
    return this.#refusal === null ? `mqtt user ${this.config.from}` : "mqtt publisher unknown";
  }

  /**
   * Whether a message on the write topics is the probe's (not a write). The probe's own
   * message coming back proves that a client without credentials can publish writes.
   */
  isProbe(topic: string, payload: string): boolean {
    if (!topic.endsWith("/edge-gateway/acl-probe")) return false;
    if (this.#nonce !== "" && payload === this.#nonce) this.#nonce = "";
    return true;
  }

  /**
   * Checks the broker (the gateway's subscription to `topic` must be in place): a client
   * without credentials publishes to `<prefix>edge-gateway/acl-probe`; writes are taken only if
   * the broker refused it (connection or PUBACK) and it did not arrive.
   */
  verify(broker: BrokerConfig, ctx: ProbeContext): Promise<void> {
    if (!this.config.enabled || !this.config.verify_acl) return this.#probing;
    // A new connection may be to a broker whose ACL changed: writes wait for the check again.
    this.#refusal = "the broker's ACL is not verified yet";
    this.#probing = this.#probing.then(() => this.#probe(broker, ctx)).catch((e) => {
      this.#refusal = `the broker's ACL could not be checked: ${errorMessage(e)}`;
    });
    return this.#probing;
  }

  async #probe(broker: BrokerConfig, ctx: ProbeContext): Promise<void> {
    const prefix = ctx.prefix;
    const { log, topic } = this.options;
    const status = new ComponentStatus(`${ctx.name}-acl-probe`, "mqtt");
    const nonce = crypto.randomUUID();
    this.#nonce = nonce;
    const anonymous = {
      ...broker,
      username: undefined,
      password: undefined,
      client_id: `${broker.client_id ?? `edge-gateway-${ctx.gatewayId}-${ctx.name}`}-acl-probe`,
      clean: true,
      // Client certificates are an identity too: the probe has none.
      cert: undefined,
      key: undefined,
    };
    let refusedCode: number | undefined;
    const id = { gatewayId: ctx.gatewayId, name: status.name, status };
    const client = await connectBroker(anonymous, id, {
      prepare: (c) => c.on("error", (e) => refusedCode ??= (e as { code?: number }).code),
    });
    if (!client.connected && !REFUSED_CONNECTION.has(refusedCode ?? -1)) {
      await closeBroker(client);
      throw new Error(`no answer to a connection: ${status.lastError?.message ?? "timed out"}`);
    }
    let published = false;
    try {
      if (client.connected) {
        const ack = await client.publishAsync(`${prefix}edge-gateway/acl-probe`, nonce, { qos: 1 });
        // MQTT 5: 0x87 Not authorized (mosquitto 2); 3.1.1 brokers drop it silently.
        const code = (ack as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
        published = code < 0x80;
      }
    } catch (e) {
      published = false;
      log.debug("ACL probe publish refused", { error: errorMessage(e) });
    } finally {
      await closeBroker(client);
    }
    if (published) {
      // The broker took it: it is not allowed only if it never reaches our subscription.
      const until = Date.now() + PROBE_WAIT_MS;
      while (this.#nonce === nonce && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const arrived = published && this.#nonce !== nonce;
    this.#nonce = "";
    if (arrived) {
      this.#refusal = `a client without credentials can publish ${topic}: ` +
        `the broker's ACL must let only "${this.config.from}" write there ` +
        `(docs/security.md, "Who may change a device over MQTT")`;
      log.error("MQTT writes refused: the broker lets anyone publish them", {
        topic,
        from: this.config.from,
        fix: `give the broker the ACL in ${this.options.acl ?? "the sink's README.md"} ` +
          `(only "${this.config.from}" may publish ${topic}), or set writes.enabled: false`,
      });
    } else {
      if (this.#refusal !== null) log.info("MQTT writes taken", { topic, from: this.config.from });
      this.#refusal = null;
    }
  }
}
