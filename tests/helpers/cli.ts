/** Runs main.ts as a subprocess with the same permissions as `deno task start`. */

/** Deno flags of the gateway's run task (kept narrow, as in production). */
export const RUN_FLAGS = [
  "--v8-flags=--max-semi-space-size=1,--max-old-space-size=160",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
  "--allow-run=stty,cat,dd,ffmpeg",
];

/** The environment of `deno task start` and of the service (systemd/edge-gateway.service). */
export const RUN_ENV: Record<string, string> = { MALLOC_ARENA_MAX: "1" };

/** Runs `main.ts <args>` to completion and returns its exit code and output. */
export async function runCli(
  args: string[],
  options: {
    env?: Record<string, string>;
    stdin?: Uint8Array;
    cwd?: string;
    /** Deno flags instead of {@link RUN_FLAGS} (the service binary's, say). */
    flags?: string[];
  } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const flags = options.flags ?? RUN_FLAGS;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, new URL("../../main.ts", import.meta.url).pathname, ...args],
    env: { ...RUN_ENV, ...options.env },
    cwd: options.cwd,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts `main.ts run --config FILE` in the background (`nofile`: its open-file limit). */
export function spawnGateway(
  configFile: string,
  options: { env?: Record<string, string>; cwd?: string; nofile?: number; flags?: string[] } = {},
): Deno.ChildProcess {
  const limit = options.nofile ? [`--nofile=${options.nofile}:${options.nofile}`, "--"] : [];
  return new Deno.Command(options.nofile ? "prlimit" : Deno.execPath(), {
    args: [
      ...(options.nofile ? [...limit, Deno.execPath()] : []),
      "run",
      ...(options.flags ?? RUN_FLAGS),
      new URL("../../main.ts", import.meta.url).pathname,
      "run",
      "--config",
      configFile,
    ],
    env: { ...RUN_ENV, ...options.env },
    cwd: options.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}
