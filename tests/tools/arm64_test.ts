/**
 * The gateway on a Raspberry Pi's instruction set (aarch64), emulated: Debian's qemu-user-static
 * and libc6-arm64-cross run the arm64 Deno of the npm package @deno/linux-arm64-glibc (2.9.5, the
 * newest there) on main.ts. `check` passes on the demo config, and the demo starts, stores samples
 * and serves its page. About 100x slower than native (check: 27 s against 0.3 s), so it is kept to these two runs.
 */
import assert from "node:assert/strict";
import { RUN_ENV, RUN_FLAGS } from "../helpers/cli.ts";
import { freePort, waitFor } from "../helpers/servers.ts";

const VERSION = "2.9.5";
const SYSROOT = "/usr/aarch64-linux-gnu";
const ROOT = new URL("../../", import.meta.url).pathname;

/** Why the test cannot run here (no qemu: tests/run.sh installs it), or null. */
const missing = (() => {
  try {
    new Deno.Command("qemu-aarch64-static", { args: ["--version"], stdout: "null" }).outputSync();
    return null;
  } catch {
    return "qemu-aarch64-static not found (Debian: qemu-user-static)";
  }
})();
if (missing) console.error(`arm64_test.ts skipped: ${missing}`);

/** Fails (does not skip) when qemu is there but the arm64 C library it needs is not. */
function assertSysroot(): void {
  for (const lib of ["ld-linux-aarch64.so.1", "libgcc_s.so.1"]) {
    try {
      Deno.statSync(`${SYSROOT}/lib/${lib}`);
    } catch {
      throw new Error(
        `${SYSROOT}/lib/${lib} missing: install libc6-arm64-cross and libgcc-s1-arm64-cross`,
      );
    }
  }
}

async function run(cmd: string, args: string[], options: { cwd?: string } = {}) {
  const out = await new Deno.Command(cmd, { args, ...options, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${text}`);
  return text;
}

/** The x86 Deno's cache dirs (its npm packages are JavaScript: the arm64 Deno reuses them). */
async function denoDirs(): Promise<{ denoDir: string; npmCache: string }> {
  const info = JSON.parse(await run(Deno.execPath(), ["info", "--json"]));
  return { denoDir: info.denoDir, npmCache: info.npmCache };
}

/**
 * The arm64 `deno` binary, unpacked once into `<x86 DENO_DIR>/../edge-gateway-arm64/`, and a
 * DENO_DIR for it whose npm cache is the x86 one's (no second download).
 */
async function arm64Deno(): Promise<{ deno: string; env: Record<string, string> }> {
  const { denoDir, npmCache } = await denoDirs();
  const home = `${denoDir.replace(/\/+$/, "")}/../edge-gateway-arm64`;
  const deno = `${home}/deno-${VERSION}/package/deno`;
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  if (!(await exists(deno))) {
    const dir = `${home}/deno-${VERSION}`;
    await Deno.mkdir(dir, { recursive: true });
    // npm pack fetches a package of any CPU (npm install would refuse arm64 on x86).
    const packed = (await run("npm", ["pack", "--silent", `@deno/linux-arm64-glibc@${VERSION}`], {
      cwd: dir,
    })).trim().split("\n").at(-1)!;
    await run("tar", ["xzf", packed], { cwd: dir });
    await Deno.remove(`${dir}/${packed}`);
  }
  const cache = `${home}/deno-dir`;
  await Deno.mkdir(cache, { recursive: true });
  if (!(await exists(`${cache}/npm`))) await Deno.symlink(npmCache, `${cache}/npm`);
  return { deno, env: { ...RUN_ENV, DENO_DIR: cache, NO_COLOR: "1" } };
}

/** `qemu-aarch64-static -L <sysroot> <arm64 deno> run <flags> main.ts <args>`. */
function emulated(deno: string, args: string[]): string[] {
  return ["-L", SYSROOT, deno, "run", ...RUN_FLAGS, `${ROOT}main.ts`, ...args];
}

Deno.test({
  name:
    "arm64 (qemu): check passes on the demo config; the demo starts, stores samples, serves its page",
  ignore: missing !== null,
  async fn() {
    assertSysroot();
    const { deno, env } = await arm64Deno();
    const version = await run("qemu-aarch64-static", ["-L", SYSROOT, deno, "--version"]);
    assert.match(version, new RegExp(`deno ${VERSION.replaceAll(".", "\\.")}.*aarch64`));

    const dir = await Deno.makeTempDir({ prefix: "arm64-" });
    const port = freePort();
    // The demo config itself, with its data dir and port from the environment it reads.
    const demoEnv = { ...env, GATEWAY_DATA_DIR: `${dir}/data`, GATEWAY_HTTP_PORT: String(port) };
    const config = `${ROOT}config/gateway.yml`;
    const check = new Deno.Command("qemu-aarch64-static", {
      args: emulated(deno, ["check", config]),
      env: demoEnv,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const demo = new Deno.Command("qemu-aarch64-static", {
      args: emulated(deno, ["run", "--config", config]),
      env: demoEnv,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = new Response(demo.stderr).text();
    const url = `http://127.0.0.1:${port}`;
    try {
      // Both simulated devices' samples in the store: /query reads them back from SQLite.
      for (const node of ["mppt1", "bmv1"]) {
        await waitFor(async () => {
          const res = await fetch(`${url}/query?node=${node}&from=0`);
          const body = res.ok ? await res.json() : null;
          return Array.isArray(body?.points) && body.points.length >= 2;
        }, { what: `samples of ${node} stored (arm64)`, timeoutMs: 150_000, intervalMs: 500 });
      }
      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);

      const out = await check;
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);
      assert.match(text, /gateway\.yml: valid/);
    } finally {
      try {
        demo.kill("SIGTERM");
      } catch { /* already gone */ }
      const status = await demo.status;
      const text = await log;
      await Deno.remove(dir, { recursive: true });
      assert.ok(status.success || status.signal === "SIGTERM", `demo exit: ${text.slice(-2000)}`);
    }
  },
});
