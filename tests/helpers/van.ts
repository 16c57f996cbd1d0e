/**
 * A small Victron site for the ecosystem sinks' tests: mosquitto, an MPPT played on a
 * pseudo-terminal (so it can be unplugged), a simulated BMV, and a gateway whose
 * sinks the test gives. The devices run at 02:00 UTC, where the simulated BMV
 * discharges: a finite time-to-go whatever the hour of the run.
 */
import { Agent } from "../../src/agent.ts";
import { simulateToPort } from "../../src/cli/simulate.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { shiftedClock } from "../../src/util/clock.ts";
import { startAuditHook } from "./audit_hook.ts";
import { startGateway } from "./gateway.ts";
import { PtyPair } from "./pty.ts";
import { freePort, startMosquitto } from "./servers.ts";

/** The site's clock: 02:00 UTC on a winter day, moving. */
export const vanClock = shiftedClock(Date.UTC(2026, 0, 15, 2));

/**
 * Starts the site; `sinks(url)` is the YAML of the gateway's sinks for broker `url`, `broker`
 * the broker's users and ACL; `mppt` adds keys to the MPPT source's flow mapping
 * (`stale_after: 2s`).
 */
export async function startVan(
  sinks: (url: string) => string,
  options: {
    broker?: Parameters<typeof startMosquitto>[0];
    /** The MPPT sends frames but answers no HEX request. */
    silent?: boolean;
    /** The MPPT source's `hex_timeout`. */
    hexTimeout?: string;
    mppt?: string;
  } = {},
) {
  const broker = await startMosquitto(options.broker);
  const pty = await PtyPair.create();
  const dir = await Deno.makeTempDir();
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const httpPort = freePort();
  const mpptExtra = options.mppt ? `, ${options.mppt}` : "";
  const agent = new Agent(
    parseConfig(
      `gateway: {id: van, data_dir: ${dir}}
http: {port: ${httpPort}}
sources:
  mppt1: {type: vedirect, port: ${pty.device}, gap: 80ms, reconnect_min: 100ms, hex_timeout: ${
        options.hexTimeout ?? "2s"
      }${mpptExtra}}
  bmv1: {type: vedirect, simulate: bmv, interval: 200ms}
sinks:
${sinks(url)}
`,
      gatewaySchema,
    ),
    { clock: vanClock },
  );
  let stop = new AbortController();
  let device: Promise<unknown> = Promise.resolve();
  const play = () => {
    stop = new AbortController();
    device = simulateToPort(pty.peer, {
      silent: options.silent,
      device: "mppt",
      intervalMs: 150,
      count: 0,
      signal: stop.signal,
      clock: vanClock,
    });
  };
  const silenceMppt = async () => {
    stop.abort();
    await device.catch(() => 0);
  };
  const unplugMppt = async () => {
    await silenceMppt();
    await pty.unplug();
  };
  return {
    url,
    /** The gateway's HTTP API. */
    http: `http://127.0.0.1:${httpPort}`,
    agent,
    /** Starts the gateway and plays the MPPT. */
    async start() {
      await agent.start();
      play();
    },
    unplugMppt,
    /** The MPPT stops sending; its cable stays plugged in (the port stays open). */
    silenceMppt,
    /** The silent MPPT sends again. */
    resumeMppt: play,
    /** Plugs the MPPT back in and plays it again. */
    async replugMppt() {
      await pty.plug();
      play();
    },
    async stop() {
      await unplugMppt();
      await agent.stop();
      await broker.stop();
    },
  };
}

/**
 * {@link startVan} with an audit webhook: the sinks given plus `hook` (forwarding events), the
 * events it received in `events`; `stop()` shuts the webhook too.
 */
export async function startAuditedVan(
  sinks: (url: string) => string,
  options: Parameters<typeof startVan>[1] = {},
) {
  // The webhook posts each audit event flat: {type, gateway, ...data}.
  const hook = startAuditHook();
  const van = await startVan(
    (url) =>
      `${sinks(url)}
  hook: {type: webhook, url: "${hook.url}", forward: [event], max_wait: 10ms}`,
    options,
  ).catch(async (e) => {
    await hook.shutdown();
    throw e;
  });
  let hookUp = true;
  return {
    ...van,
    events: hook.events,
    async stop() {
      await van.stop();
      if (hookUp) await hook.shutdown();
      hookUp = false;
    },
  };
}

/** One simulated MPPT (`mppt1`) and, with `bmv`, a BMV (`bmv1`), a frame each 200 ms. */
function simulatedSources(bmv: boolean): string {
  const mppt = "  mppt1: {type: vedirect, simulate: mppt, interval: 200ms}";
  return bmv ? `${mppt}\n  bmv1: {type: vedirect, simulate: bmv, interval: 200ms}` : mppt;
}

/**
 * mosquitto and a gateway `van` in its own process ({@link startGateway}) with simulated devices
 * and the sinks `sinks(url)` gives for the broker's `url`; `yaml` starts it again. `sources`
 * replaces the devices, `gateway` adds keys to the `gateway:` flow mapping. The test stops both.
 */
export async function startVanProcess(
  sinks: (url: string) => string,
  options: { bmv?: boolean; sources?: string; gateway?: string } = {},
) {
  const broker = await startMosquitto();
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const gatewayExtra = options.gateway ? `, ${options.gateway}` : "";
  const yaml = (port: number, dataDir: string) =>
    `gateway: {id: van, data_dir: ${dataDir}${gatewayExtra}}
http: {port: ${port}}
sources:
${options.sources ?? simulatedSources(options.bmv ?? false)}
sinks:
${sinks(url)}
`;
  const gw = await startGateway(yaml).catch(async (e) => {
    await broker.stop();
    throw e;
  });
  return { broker, url, yaml, gw };
}
