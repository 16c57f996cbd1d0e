/**
 * Edge gateway CLI: run | check <config> | decode <file|-> | simulate | venus-gone | version.
 * Exit codes: 0 ok, 1 runtime failure or a stop longer than gateway.stop_timeout,
 * 2 bad usage, invalid config or a data dir held by another gateway, 130 forced stop (second
 * signal).
 */
import { parseArgs } from "node:util";
import { stringify as stringifyYaml } from "yaml";
import { Agent } from "./src/agent.ts";
import { simulatedWarning } from "./src/host.ts";
import { DataDirInUseError } from "./src/data_dir_lock.ts";
import { decodeCapture } from "./src/cli/decode.ts";
import { announceGone, hostnameOr } from "./src/sinks/venus/gone.ts";
import type { VenusConfig } from "./src/sinks/venus/mod.ts";
import { simulateToPort } from "./src/cli/simulate.ts";
import { sourcePlugin } from "./src/sources/registry.ts";
import { displayConfig } from "./src/config/display.ts";
import { ConfigError, loadConfigFile } from "./src/config/load.ts";
import { maskConfig } from "./src/secrets.ts";
import { type GatewayConfig, gatewaySchema } from "./src/config/schema.ts";
import { parseDuration } from "./src/config_values.ts";
import { configureLog } from "./src/log.ts";
import { Notifier } from "./src/systemd.ts";
import { effectivePermissions, pathNeeds, permissionProblems } from "./src/permissions.ts";
import { tlsReport } from "./src/tls.ts";
import { commit, VERSION } from "./src/version.ts";

const DEFAULT_CONFIG = "config/gateway.yml";

const HELP: Record<string, string> = {
  main: `edge-gateway ${VERSION}: collect, keep, aggregate and forward device data

Usage: edge-gateway <command> [options]

Commands:
  run [--config FILE]      run the gateway (default config: ${DEFAULT_CONFIG})
  check FILE               validate a config and print it with secrets masked
  decode FILE|-            decode a raw VE.Direct capture to JSON lines
  simulate --device mppt|bmv --port PATH   play a Victron device on a tty
  venus-gone [--config FILE]  empty the Venus paths of a gateway that stopped (systemd's
                           ExecStopPost: after a kill or a hang too)
  version                  print version, commit and Deno version

Run 'edge-gateway <command> --help' for a command's options.`,
  run: `Usage: edge-gateway run [--config FILE]

Runs the gateway until SIGINT/SIGTERM (a second signal forces exit 130).
SIGHUP (or POST /reload) re-reads the config file and applies what changed.
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})`,
  check: `Usage: edge-gateway check FILE

Validates FILE (YAML, \${ENV} substitution, schema) and prints the effective
config as YAML (defaults filled in, durations and sizes in units, secrets
masked). Exit 0 when valid, 2 with every error otherwise.`,
  decode: `Usage: edge-gateway decode FILE|- [--no-checksum]

Decodes a raw VE.Direct capture (a file, or - for stdin) to JSON lines, one
device record or HEX message per line, and prints counters to stderr.
  --no-checksum   accept blocks whose checksum fails (some chargers need it)`,
  simulate: `Usage: edge-gateway simulate --device mppt|bmv --port PATH [--interval 1s] [--count N]

Plays a simulated Victron device on a serial port or pseudo-terminal (one end
of a socat pair), answering HEX ping/get requests.`,
  "venus-gone": `Usage: edge-gateway venus-gone [--config FILE]

For each Venus sink of the config: heartbeat 0, an empty payload on every path of
every VE.Direct device, the retained serial cleared, as a GX does when a service
leaves. systemd runs it after the gateway's process ended, however it ended.
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})`,
  version: `Usage: edge-gateway version`,
};

function usage(command: string, message?: string): number {
  if (message) console.error(`error: ${message}\n`);
  console.error(HELP[command] ?? HELP.main);
  return 2;
}

async function load(file: string): Promise<GatewayConfig | number> {
  try {
    return await loadConfigFile(file, gatewaySchema);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
}

/** Signals closer than this to the first one are the same stop request. */
const DUPLICATE_SIGNAL_MS = 500;

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return usage("run") && 0;
  const file = values.config ?? DEFAULT_CONFIG;
  const config = await load(file);
  if (typeof config === "number") return config;
  const denied = permissionProblems(pathNeeds(config, file));
  if (denied.length > 0) {
    console.error(`cannot run ${file}:\n  ${denied.join("\n  ")}`);
    return 2;
  }
  configureLog(config.log);
  const agent = new Agent(config, { configFile: file });
  // An error no component caught is logged and counted; it never ends the process.
  addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    agent.control.uncaught(e.reason);
  });
  addEventListener("error", (e) => {
    e.preventDefault();
    agent.control.uncaught(e.error ?? e.message);
  });
  const notifier = Notifier.fromEnv(agent.log.child("systemd"));
  let firstSignalAt = -1;
  const stopped = Promise.withResolvers<number>();
  const onSignal = () => {
    if (firstSignalAt >= 0) {
      // Ctrl-C on `deno task start` reaches the gateway twice (from the terminal, and forwarded
      // by deno task) within milliseconds: that is one request, not an impatient second one.
      if (performance.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
      console.error("second signal: exiting now");
      Deno.exit(130);
    }
    firstSignalAt = performance.now(); // monotonic: a clock step between the two is no matter
    const limit = setTimeout(() => {
      agent.log.error("graceful stop took too long; exiting", {
        stop_timeout_ms: config.gateway.stop_timeout,
      });
      Deno.exit(1);
    }, config.gateway.stop_timeout);
    notifier.stopping()
      .then(() => agent.stop())
      .then(() => stopped.resolve(0), () => stopped.resolve(1))
      .finally(() => clearTimeout(limit));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // SIGHUP re-reads the config; an invalid file leaves the running config in force.
  Deno.addSignalListener("SIGHUP", () => void agent.control.reload());
  try {
    await agent.start();
  } catch (e) {
    if (!(e instanceof DataDirInUseError)) throw e;
    console.error(`error: ${e.message}`);
    return 2;
  }
  await notifier.ready(`${agent.sources.size} sources, ${agent.deliveries.size} sinks`);
  const code = await stopped.promise;
  await notifier.close();
  return code;
}

async function check(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help) return usage("check") && 0;
  if (positionals.length !== 1) return usage("check", "check takes exactly one FILE");
  const config = await load(positionals[0]);
  if (typeof config === "number") return config;
  // What the schema cannot see (a program a plugin needs), each plugin checks itself.
  const needs = pathNeeds(config, positionals[0]);
  const problems: string[] = permissionProblems(needs);
  for (const [name, source] of Object.entries(config.sources)) {
    const plugin = sourcePlugin(source.type);
    for (const p of await plugin?.preflight?.(source) ?? []) problems.push(`sources.${name}.${p}`);
  }
  if (problems.length > 0) {
    console.error(`invalid setup ${positionals[0]}:\n  ${problems.join("\n  ")}`);
    return 2;
  }
  // The effective config, defaults filled in, in the units the user writes (20s, 1MiB).
  console.log(stringifyYaml(displayConfig(gatewaySchema, maskConfig(config))).trimEnd());
  console.error(`permissions: ${effectivePermissions(needs)}`);
  const tls = tlsReport({
    ...(config.store.redis ? { "store.redis": config.store.redis } : {}),
    ...Object.fromEntries(Object.entries(config.sources).map(([n, c]) => [`sources.${n}`, c])),
    ...Object.fromEntries(Object.entries(config.sinks).map(([n, c]) => [`sinks.${n}`, c])),
  });
  for (const line of tls.lines) console.error(`tls: ${line}`);
  for (const w of tls.warnings) console.error(`warning: ${w}`);
  const forwardsSamples = Object.values(config.sinks).some((c) =>
    (c as { forward?: string[] }).forward?.includes("sample")
  );
  for (const [name, source] of Object.entries(config.sources)) {
    const plugin = sourcePlugin(source.type);
    if (forwardsSamples && plugin?.simulated?.(source)) {
      console.error(`warning: ${simulatedWarning(name)}`);
    }
  }
  const h = config.http;
  if (h.enabled && !/^(127\.|::1$|localhost$)/.test(h.host) && !(h.token && h.read_token)) {
    console.error(
      `warning: http.host ${h.host} is reachable from the network and ` +
        `${h.token ? "http.read_token" : "http.token"} is not set: ` +
        (h.token
          ? "anyone there can read /status, the page, /query and /metrics"
          : "mutating endpoints are refused, but reading is open"),
    );
  }
  console.error(`${positionals[0]}: valid`);
  return 0;
}

async function decode(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" }, "no-checksum": { type: "boolean" } },
  });
  if (values.help) return usage("decode") && 0;
  if (positionals.length !== 1) return usage("decode", "decode takes a FILE or - for stdin");
  let input: ReadableStream<Uint8Array>;
  if (positionals[0] === "-") input = Deno.stdin.readable;
  else {
    try {
      input = (await Deno.open(positionals[0])).readable;
    } catch (e) {
      console.error(`error: cannot open capture ${positionals[0]}: ${(e as Error).message}`);
      return 2;
    }
  }
  const counters = await decodeCapture(input, {
    write: (line) => console.log(line),
    validateChecksum: !values["no-checksum"],
  });
  console.error(Object.entries(counters).map(([k, v]) => `${k}=${v}`).join(" "));
  return 0;
}

async function simulate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean", short: "h" },
      device: { type: "string", default: "mppt" },
      port: { type: "string" },
      interval: { type: "string", default: "1s" },
      count: { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
    },
  });
  if (values.help) return usage("simulate") && 0;
  if (!values.port) return usage("simulate", "--port is required");
  if (values.device !== "mppt" && values.device !== "bmv") {
    return usage("simulate", `--device must be mppt or bmv, got "${values.device}"`);
  }
  let intervalMs: number;
  try {
    intervalMs = parseDuration(values.interval!);
  } catch (e) {
    return usage("simulate", `--interval: ${(e as Error).message}`);
  }
  const abort = new AbortController();
  Deno.addSignalListener("SIGINT", () => abort.abort());
  Deno.addSignalListener("SIGTERM", () => abort.abort());
  const frames = await simulateToPort(values.port, {
    device: values.device,
    intervalMs,
    count: Number(values.count),
    seed: Number(values.seed),
    signal: abort.signal,
  });
  console.error(`sent ${frames} frames to ${values.port}`);
  return 0;
}

async function venusGone(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return usage("venus-gone") && 0;
  const config = await load(values.config ?? DEFAULT_CONFIG);
  if (typeof config === "number") return config;
  const nodes = Object.entries(config.sources)
    .filter(([, s]) => s.type === "vedirect")
    .map(([name, s]) => (s as { node?: string }).node ?? name);
  const gatewayId = config.gateway.id ?? hostnameOr("gateway"); // as the agent names itself
  let failed = 0;
  for (const [name, sink] of Object.entries(config.sinks)) {
    if (sink.type !== "venus") continue;
    try {
      // Parsed by the venus plugin's schema already.
      const n = await announceGone(sink as unknown as VenusConfig, { name, gatewayId, nodes });
      console.error(`sink ${name}: ${n} Venus paths emptied, heartbeat 0`);
    } catch (e) {
      failed++;
      console.error(`sink ${name}: ${(e as Error).message}`);
    }
  }
  return failed > 0 ? 1 : 0;
}

/** Runs the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "run":
        return await run(rest);
      case "check":
        return await check(rest);
      case "decode":
        return await decode(rest);
      case "simulate":
        return await simulate(rest);
      case "venus-gone":
        return await venusGone(rest);
      case "version":
        console.log(`edge-gateway ${VERSION} (commit ${commit()}, deno ${Deno.version.deno})`);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(HELP.main);
        return command ? 0 : 2;
      default:
        return usage("main", `unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof TypeError && /Unknown option|Unexpected argument/.test(e.message)) {
      return usage(command, e.message);
    }
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
