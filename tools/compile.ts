/**
 * Builds the single binary: `deno task compile [--target aarch64-unknown-linux-gnu]`.
 *
 * Type-checks first with the default heap: the V8 flags given to `deno compile` bind
 * the compiler too, and 160 MiB is enough for the gateway but not for checking it.
 * The binary gets the service's narrow permissions (src/permissions.ts) and heap limits.
 */
import { parseArgs } from "node:util";
import { serviceFlags } from "../src/permissions.ts";

/** V8 flags of the running gateway: keep the resident size near 100 MiB under load. */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=1,--max-old-space-size=160";

/** The `deno compile` arguments for a target (undefined: this machine's). */
export function compileArgs(target?: string): string[] {
  return [
    "compile",
    "--no-check",
    ...(target ? ["--target", target] : []),
    V8_FLAGS,
    ...serviceFlags(),
    "--include",
    "lua",
    "--include",
    "config/gateway.yml",
    "--include",
    "COMMIT",
    // Sinks that run in a Worker start it from this module: it must be in the binary.
    "--include",
    "src/delivery/sink_worker.ts",
    "--include",
    "src/sources/mqtt/ingest_worker.ts",
    "--output",
    `dist/edge-gateway${target?.startsWith("aarch64") ? "-aarch64" : ""}`,
    "main.ts",
  ];
}

async function deno(args: string[], options: { capture?: boolean } = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: options.capture ? "piped" : "inherit",
  }).output();
  if (!options.capture) return { ok: out.success, stderr: "" };
  await Deno.stderr.write(out.stderr);
  return { ok: out.success, stderr: new TextDecoder().decode(out.stderr) };
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { target: { type: "string" } } });
  if (!(await deno(["check", "main.ts"])).ok) Deno.exit(1);
  const commit = await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"] })
    .output().catch(() => null);
  await Deno.writeTextFile(
    "COMMIT",
    commit?.success ? new TextDecoder().decode(commit.stdout) : "unknown\n",
  );
  const built = await deno(compileArgs(values.target), { capture: true });
  if (!built.ok) {
    if (/denort|dl\.deno\.land|download/i.test(built.stderr)) {
      const target = values.target ?? `${Deno.build.arch}-unknown-linux-gnu`;
      const given = Deno.env.get("DENORT_BIN");
      if (given) console.error(`\nDENORT_BIN=${given} is not a usable denort.`);
      console.error(
        `\nThe Deno runtime for the binary (denort) could not be had. On a machine without ` +
          `internet, set DENORT_BIN to an unpacked denort ${Deno.version.deno} for ${target}, from ` +
          `https://dl.deno.land/release/v${Deno.version.deno}/denort-${target}.zip`,
      );
    }
    Deno.exit(1);
  }
}
