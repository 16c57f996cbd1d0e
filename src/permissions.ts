/**
 * Deno permissions: the narrow set the compiled service binary is built with
 * (baked in at compile time, see tools/compile.ts), and the paths a config
 * needs, so `check` and `run` say which one this process may not touch before
 * a component fails on it.
 */
import type { GatewayConfig } from "./config/schema.ts";

/** Where the service keeps things (systemd/edge-gateway.service). */
export const SERVICE_PATHS = {
  config: "/etc/edge-gateway",
  data: "/var/lib/edge-gateway",
  /** RuntimeDirectory=: the systemd notification socket. */
  runtime: "/run/edge-gateway",
  /** systemd's notification socket (Type=notify): a datagram to it needs write access. */
  notify: "/run/systemd/notify",
  /** LoadCredential= files. */
  credentials: "/run/credentials",
  /** systemd-timesyncd's state: `synchronized` appears there once the clock is synchronised. */
  timesync: "/run/systemd/timesync",
  /** The Data-Service's default IPC socket (BindPaths= into the service's private /tmp). */
  dataservice: "/tmp/dataservice.sock",
};

/** Programs the gateway runs: serial lines (stty, cat, dd) and image conversion (ffmpeg). */
export const RUN_COMMANDS = ["stty", "cat", "dd", "ffmpeg"];

/** Permission flags of the service binary: writes only to its data and runtime dirs. */
export function serviceFlags(paths: typeof SERVICE_PATHS = SERVICE_PATHS): string[] {
  const p = paths;
  return [
    "--allow-net",
    // /dev and /sys: serial ports and their by-id links are looked up, never opened by Deno.
    `--allow-read=${[
      p.config,
      p.data,
      p.runtime,
      p.credentials,
      p.notify,
      p.dataservice,
      p.timesync,
      "/dev",
      "/sys",
    ]}`,
    `--allow-write=${[p.data, p.runtime, p.notify, p.dataservice]}`,
    // ${VAR} in the config may name any variable.
    "--allow-env",
    // hostname: gateway.id's default; networkInterfaces: the page's LAN address in the log.
    "--allow-sys=hostname,networkInterfaces",
    `--allow-run=${RUN_COMMANDS}`,
  ];
}

/** A path the config makes the gateway read or write, and the config key that names it. */
export interface PathNeed {
  path: string;
  access: "read" | "write";
  key: string;
}

/** Every path `config` (loaded from `file`) makes the gateway read or write. */
export function pathNeeds(config: GatewayConfig, file: string): PathNeed[] {
  const needs: PathNeed[] = [{ path: file, access: "read", key: "the config file" }];
  const both = (path: string, key: string) =>
    needs.push({ path, access: "read", key }, { path, access: "write", key });
  both(config.gateway.data_dir, "gateway.data_dir");
  const files = (section: string, items: Record<string, Record<string, unknown>>) => {
    for (const [name, item] of Object.entries(items)) {
      // A Unix socket is connected to with read and write access to its path.
      if (typeof item.socket === "string") both(item.socket, `${section}.${name}.socket`);
      if (item.type === "dataservice_ipc") continue; // its `key` is a template, not a file
      for (const k of ["ca", "cert", "key"]) {
        const path = item[k];
        if (typeof path === "string") {
          needs.push({ path, access: "read", key: `${section}.${name}.${k}` });
        }
      }
    }
  };
  files("sources", config.sources as Record<string, Record<string, unknown>>);
  files("sinks", config.sinks as Record<string, Record<string, unknown>>);
  const redis = config.store.redis as unknown as Record<string, unknown> | undefined;
  if (redis) files("store", { redis });
  return needs;
}

function granted(need: { access: "read" | "write"; path?: string }): boolean {
  return Deno.permissions.querySync({ name: need.access, path: need.path }).state === "granted";
}

/** What this process may not do of what the config needs, each saying what to change. */
export function permissionProblems(needs: PathNeed[]): string[] {
  return needs.filter((n) => !granted(n)).map((n) =>
    `${n.key} ${n.path}: this gateway may not ${n.access} there (its Deno permissions ` +
    `are fixed when it is built): use a path under ${SERVICE_PATHS.config} or ` +
    `${SERVICE_PATHS.data}, or run from source with --allow-${n.access}=${n.path}`
  );
}

/** The permissions this process runs with, as flags; paths listed where only some are granted. */
export function effectivePermissions(needs: PathNeed[]): string {
  const flags: string[] = [];
  for (const access of ["read", "write"] as const) {
    if (granted({ access })) flags.push(`--allow-${access}`);
    else {
      const paths = [...new Set(needs.filter((n) => n.access === access && granted(n)))]
        .map((n) => n.path);
      if (paths.length) flags.push(`--allow-${access}=${[...new Set(paths)]}`);
    }
  }
  for (const name of ["net", "env", "ffi"] as const) {
    if (Deno.permissions.querySync({ name }).state === "granted") flags.push(`--allow-${name}`);
  }
  if (Deno.permissions.querySync({ name: "sys" }).state === "granted") flags.push("--allow-sys");
  else {
    const kinds = (["hostname", "networkInterfaces"] as const).filter((kind) =>
      Deno.permissions.querySync({ name: "sys", kind }).state === "granted"
    );
    if (kinds.length) flags.push(`--allow-sys=${kinds}`);
  }
  if (Deno.permissions.querySync({ name: "run" }).state === "granted") flags.push("--allow-run");
  else {
    const runs = RUN_COMMANDS.filter((command) =>
      Deno.permissions.querySync({ name: "run", command }).state === "granted"
    );
    if (runs.length) flags.push(`--allow-run=${runs}`);
  }
  return flags.join(" ") || "none";
}
