/**
 * Where an MQTT source's messages come from: an mqtt.js client on this thread, or clients in
 * Workers (`worker: true`, `connections: N`; ingest_worker.ts) so that packet parsing
 * leaves the thread that stores. Either way each message comes with its PUBACK's release, and
 * reading pauses while the source is full (the socket fills and the broker holds the rest).
 */
import { clientIdOf } from "../../mqtt/broker.ts";
import { openSession } from "./session.ts";
import type { InboxMessage } from "./client_reader.ts";
import { retireSessions } from "./retire.ts";
import { Backlog } from "./backlog.ts";
import { IngestLink } from "./ingest_link.ts";
import { workersAllowed } from "../../util/workers.ts";
import { pathSegment } from "../../names.ts";
import type { SourceContext } from "../../plugin.ts";
import type { MqttSourceConfig } from "./schema.ts";
import { BROKER_DROPPED } from "./topics.ts";

export type { InboxMessage } from "./client_reader.ts";

/** Options of {@link openInbox}. */
export interface InboxOptions {
  config: MqttSourceConfig;
  ctx: SourceContext;
  onMessage(message: InboxMessage): void;
  /** Whether the source holds as much as it may; `room` resolves when it can take more. */
  full(): boolean;
  room(): Promise<void>;
  /** Subscribed (`up`) or the connection lost (`degraded`). */
  onState(state: "up" | "degraded"): void;
}

/** An open inbox. */
export interface Inbox {
  /** Whether the connections live in Workers. */
  readonly inWorker: boolean;
  close(): Promise<void>;
}

/** The source's filters as one shared subscription (a group per gateway and source). */
function sharedFilters(c: MqttSourceConfig, ctx: SourceContext): string[] {
  const group = `edge-gateway-${ctx.gatewayId}-${ctx.name}`.replace(/[/+#]/g, "_");
  return c.topics.map((t) => `$share/${group}/${t}`);
}

/** The filters connection `conn` subscribes to, and those an earlier setting left behind. */
function subscriptions(
  c: MqttSourceConfig,
  ctx: SourceContext,
  options: { conn: number; before: number },
) {
  const shared = sharedFilters(c, ctx);
  const [now, other] = c.connections > 1 ? [shared, c.topics] : [c.topics, shared];
  const subs: Record<string, { qos: 0 | 1 }> = Object.fromEntries(
    now.map((t) => [t, { qos: c.qos }]),
  );
  // mosquitto's own figures are not shared: the first connection alone reads them.
  if (c.broker_drops && options.conn === 0) subs[BROKER_DROPPED] = { qos: 0 };
  // Only the first connection's session can hold the other setting's filters, and only when the
  // setting changed (a broker without shared subscriptions is never asked about them).
  const changed = (c.connections > 1) !== (options.before > 1);
  return { subs, stale: options.conn === 0 && changed ? other : [] };
}

/** Where a source keeps how many connections it opened last (its data dir). */
function connectionsFile(ctx: SourceContext): string {
  return `${ctx.dataDir}/mqtt-${pathSegment(ctx.name)}.connections`;
}

function lastConnections(ctx: SourceContext): number {
  try {
    const n = Number(Deno.readTextFileSync(connectionsFile(ctx)).trim());
    return Number.isInteger(n) && n >= 1 ? n : 1;
  } catch {
    return 1; // never written: one connection, as before N existed
  }
}

/** Keeps the number of connections for the next start. */
function rememberConnections(n: number, ctx: SourceContext, before: number): void {
  if (n === before) return;
  try {
    Deno.writeTextFileSync(connectionsFile(ctx), `${n}\n`);
  } catch (e) {
    ctx.log.warn("could not keep the number of MQTT connections", { error: String(e) });
  }
}

const NOTHING = () => {};

// Larger messages are never sent (MQTT 5): a topic, properties and headers fit in 64 KiB.
const maxPacketSize = (c: MqttSourceConfig) => Math.min(c.max_size + 64 * 1024, 268_435_455);

/** Connects (in a Worker when configured and allowed) and subscribes. */
export async function openInbox(options: InboxOptions): Promise<Inbox> {
  const c = options.config;
  const before = lastConnections(options.ctx);
  let inbox: Inbox;
  if ((c.worker || c.connections > 1) && workersAllowed()) {
    inbox = await openInWorkers(options, before);
  } else {
    if (c.connections > 1) {
      options.ctx.log.warn(
        "no read permission on the gateway's modules: one connection, no Workers",
        { connections: c.connections },
      );
    }
    options = { ...options, config: { ...c, connections: 1 } };
    inbox = await openHere(options, before);
  }
  const now = options.config.connections;
  if (before <= now) {
    rememberConnections(now, options.ctx, before);
    return inbox;
  }
  // Sessions a higher N left in the group: what the broker queued there is taken, then they end.
  // The lower N is kept only once they are gone: a start cut short tries again.
  const retiring = { stopped: false };
  const retired = retireSessions(Array.from({ length: before - now }, (_, k) => now + k), {
    ...options,
    status: options.ctx.status,
    clientId: clientIdOf(c, options.ctx),
    filters: sharedFilters(c, options.ctx),
    maxPacketSize: maxPacketSize(c),
    stopped: () => retiring.stopped,
  }).then((all) => all && rememberConnections(now, options.ctx, before));
  return {
    inWorker: inbox.inWorker,
    close: async () => {
      retiring.stopped = true;
      await retired;
      await inbox.close();
    },
  };
}

async function openHere(options: InboxOptions, before: number): Promise<Inbox> {
  const { config: c, ctx } = options;
  const { subs, stale } = subscriptions(c, ctx, { conn: 0, before });
  const session = await openSession({
    broker: c,
    place: ctx,
    taker: { ...options, status: ctx.status },
    conn: 0,
    qos: c.qos,
    maxPacketSize: maxPacketSize(c),
    subscriptions: subs,
    stale,
    onState: (s) => {
      if (s.subscribed === false) ctx.status.fail(new Error(s.error));
      if (s.subscribed) options.onState("up");
      else if (!s.connected) options.onState("degraded");
    },
  });
  return { inWorker: false, close: () => session.close() };
}

async function openInWorkers(options: InboxOptions, before: number): Promise<Inbox> {
  const { config: c, ctx } = options;
  const n = c.connections;
  // Up once every connection is subscribed; degraded while any is not.
  const subscribed = new Array<boolean>(n).fill(false);
  // Messages per connection: whether the broker spreads them evenly.
  const counts = new Array<number>(n).fill(0);
  if (n > 1) ctx.status.info.messages_by_connection = counts;
  const clientId = clientIdOf(c, ctx);
  const links = Array.from({ length: n }, (_, conn) => {
    const { subs, stale } = subscriptions(c, ctx, { conn, before });
    const link: IngestLink = new IngestLink({
      setup: {
        // The first keeps the source's client id (and session); the others are numbered.
        broker: { ...c, client_id: conn === 0 ? clientId : `${clientId}-${conn}` },
        name: ctx.name,
        gatewayId: ctx.gatewayId,
        subscriptions: subs,
        stale,
        maxPacketSize: maxPacketSize(c),
        ack: c.ack,
      },
      status: ctx.status,
      onMessages: (items) => {
        counts[conn] += items.length;
        backlog.add(items);
      },
      onState: (s) => {
        subscribed[conn] = s.connected && (s.subscribed ?? subscribed[conn]);
        ctx.status.info.connections_up = subscribed.filter(Boolean).length;
        if (!s.connected) options.onState("degraded");
        else if (subscribed.every(Boolean)) options.onState("up");
      },
    });
    const backlog = new Backlog({
      take: (m) => {
        const seq = m.seq;
        options.onMessage({
          topic: m.topic,
          payload: m.payload,
          id: m.id,
          dup: m.dup,
          conn,
          release: seq === undefined ? NOTHING : () => link.ack(seq),
        });
      },
      full: options.full,
      room: options.room,
      pause: (paused) => link.pause(paused),
      held: () => ctx.status.count("paused"),
    });
    return link;
  });
  try {
    await Promise.all(links.map((l) => l.start()));
  } catch (e) {
    await Promise.all(links.map((l) => l.close())); // none left running behind a failed start
    throw e;
  }
  return { inWorker: true, close: () => Promise.all(links.map((l) => l.close())).then(() => {}) };
}
