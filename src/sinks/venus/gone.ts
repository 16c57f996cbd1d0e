/**
 * What a GX does when a D-Bus service vanishes (dbus-flashmq `remove_dbus_service`: an empty
 * payload on each of its paths), done for a gateway that could not say it itself: killed, or
 * hung until systemd's watchdog killed it. systemd runs `edge-gateway venus-gone` after the
 * service's process ended, whatever ended it (the unit's ExecStopPost=): a second signal that
 * does not depend on the gateway's process. It knows the devices from the config, not from what
 * was published, so it empties every path either service may have.
 */
import { clientIdOf, closeBroker, connectBroker } from "../../mqtt/broker.ts";
import { ComponentStatus } from "../../status.ts";
import { deadline } from "../../util/timing.ts";
import { BATTERY, defaultInstance, SOLARCHARGER } from "./paths.ts";
import type { VenusConfig } from "./mod.ts";

/** Paths every device has besides its service's values (paths.ts `venusValues`). */
const IDENTITY = [
  "/ProductId",
  "/ProductName",
  "/Serial",
  "/FirmwareVersion",
  "/Mgmt/Connection",
  "/Connected",
  "/DeviceInstance",
];

/** How long the whole announcement may take (systemd waits for it before a restart). */
const GONE_WAIT_MS = 5000;

/** Every device topic the sink may have published for these nodes. */
export function deviceTopics(portal: string, config: VenusConfig, nodes: string[]): string[] {
  const topics: string[] = [];
  for (const node of nodes) {
    const instance = config.instances[node] ?? defaultInstance(node);
    for (
      const [service, paths] of [
        ["solarcharger", [...Object.keys(SOLARCHARGER), "/Settings/ChargeCurrentLimit"]],
        ["battery", Object.keys(BATTERY)],
      ] as const
    ) {
      for (const path of [...paths, ...IDENTITY]) {
        topics.push(`N/${portal}/${service}/${instance}${path}`);
      }
    }
  }
  return topics;
}

/**
 * Connects as `<client id>-gone` (never the gateway's own id: that would end a live gateway's
 * session) and publishes heartbeat 0, an empty payload on every device topic, and clears the
 * retained serial. Resolves with the number of topics emptied.
 */
export async function announceGone(
  config: VenusConfig,
  options: { name: string; gatewayId: string; nodes: string[] },
): Promise<number> {
  const portal = config.portal_id ?? options.gatewayId.replace(/[^A-Za-z0-9_-]/g, "_");
  const ctx = { ...options, status: new ComponentStatus(options.name, "sink") };
  const client = await connectBroker(
    { ...config, client_id: `${clientIdOf(config, ctx)}-gone`, clean: true },
    ctx,
  );
  try {
    if (!client.connected) {
      throw new Error(`MQTT broker ${config.url} (sink ${options.name}) did not answer`);
    }
    const topics = deviceTopics(portal, config, options.nodes);
    const sent = Promise.all([
      client.publishAsync(`N/${portal}/heartbeat`, JSON.stringify({ value: 0 }), { qos: 1 }),
      ...topics.map((t) => client.publishAsync(t, "", { qos: 1 })),
      client.publishAsync(`N/${portal}/system/0/Serial`, "", { qos: 1, retain: true }),
    ]);
    await deadline(sent, GONE_WAIT_MS, `the empty payloads to ${config.url}`);
    return topics.length;
  } finally {
    await closeBroker(client);
  }
}

/** The host's name (what a gateway without `gateway.id` is called), or `fallback`. */
export function hostnameOr(fallback: string): string {
  try {
    return Deno.hostname();
  } catch {
    return fallback;
  }
}
