/**
 * Sessions of connections a lower `connections` took away. They are still members of the shared
 * subscription, and the broker may have queued messages for them (while the gateway was down, a
 * share of every message went to each): each is connected once more, unsubscribed, emptied into
 * the source like any connection, and ended (a clean session), so nothing is left behind.
 */
import { type BrokerConfig, connectBroker } from "../../mqtt/broker.ts";
import type { Logger } from "../../log.ts";
import { errorMessage } from "../../status.ts";
import type { MessageTaker } from "./client_reader.ts";
import { openSession } from "./session.ts";

/** A session counts as emptied after this long without a message, its PUBACKs all sent. */
const QUIET_MS = 1000;

/** What retiring needs besides the messages' way into the source. */
export interface RetireOptions extends MessageTaker {
  config: BrokerConfig & { qos: 0 | 1 };
  ctx: { name: string; gatewayId: string; log: Logger };
  clientId: string;
  /** The shared filters the sessions were subscribed to. */
  filters: string[];
  maxPacketSize: number;
  /** True once the source stops: the session in hand is left as it is (a later start retries). */
  stopped(): boolean;
}

/**
 * Empties and ends the sessions `<clientId>-<k>` for each k of `numbers`, one after another;
 * true when all are gone.
 */
export async function retireSessions(numbers: number[], options: RetireOptions): Promise<boolean> {
  let all = true;
  for (const k of numbers) {
    if (options.stopped()) return false;
    const id = `${options.clientId}-${k}`;
    try {
      const taken = await empty(id, k, options);
      options.ctx.log.info("MQTT session of a connection taken away emptied and ended", {
        session: id,
        messages: taken,
      });
      options.status.count("sessions_retired");
    } catch (e) {
      all = false;
      options.ctx.log.warn("could not end the MQTT session of a connection taken away", {
        session: id,
        error: errorMessage(e),
      });
    }
  }
  return all;
}

async function empty(id: string, conn: number, o: RetireOptions): Promise<number> {
  const { config, ctx } = o;
  let taken = 0;
  let last = performance.now();
  const counting: MessageTaker = {
    ...o,
    onMessage: (m) => {
      taken++;
      last = performance.now();
      o.onMessage(m);
    },
  };
  const session = await openSession({
    broker: { ...config, client_id: id, clean: false },
    place: ctx,
    taker: counting,
    conn,
    qos: config.qos,
    maxPacketSize: o.maxPacketSize,
    // Nothing to subscribe: the session leaves the shared filters, or it is not emptied.
    subscriptions: {},
    stale: o.filters,
    onState: () => {},
  });
  const { client } = session;
  try {
    if (!client.connected) throw new Error(`no connection to ${config.url}`);
    if (!session.state.subscribed) {
      throw new Error(`could not leave the shared filters: ${session.state.error}`);
    }
    // Queued messages come right after the connection opens; done when quiet and all committed.
    while (performance.now() - last < QUIET_MS || (session.acks?.unreleased ?? 0) > 0) {
      await new Promise((r) => setTimeout(r, 100));
      if (!client.connected) throw new Error("the connection closed while emptying");
      if (o.stopped()) {
        throw new Error("the source stopped while emptying (the next start goes on)");
      }
    }
  } finally {
    await session.close();
  }
  // A clean session with the same client id ends the stored one (MQTT 5: expiry 0 as well).
  const place = { name: ctx.name, gatewayId: ctx.gatewayId, status: o.status };
  const ender = await connectBroker({ ...config, client_id: id, clean: true }, place, {});
  await ender.endAsync().catch(() => {});
  return taken;
}
