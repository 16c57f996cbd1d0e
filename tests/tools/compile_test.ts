/**
 * `deno task compile` on a fresh machine: it type-checks with a normal heap, then
 * builds with the service's narrow permissions; without a Deno runtime to embed
 * (no internet here), it says which variable to set.
 */
import assert from "node:assert/strict";
import { serviceFlags } from "../../src/permissions.ts";
import { compileArgs, V8_FLAGS } from "../../tools/compile.ts";
import { RUN_FLAGS } from "../helpers/cli.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("the start task runs with the tests' flags; the binary gets the service's narrow ones", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks as Record<
    string,
    string
  >;
  const flags = tasks.start.split(/\s+/).filter((w) => w.startsWith("--"));
  assert.deepEqual(flags, RUN_FLAGS);
  assert.match(tasks.compile, /tools\/compile\.ts$/);
  assert.match(tasks["compile:aarch64"], /tools\/compile\.ts --target aarch64-unknown-linux-gnu$/);
  const args = compileArgs("aarch64-unknown-linux-gnu");
  assert.deepEqual(args.slice(0, 5), [
    "compile",
    "--no-check",
    "--target",
    "aarch64-unknown-linux-gnu",
    V8_FLAGS,
  ]);
  assert.deepEqual(args.slice(5, 5 + serviceFlags().length), serviceFlags());
  assert.ok(!args.includes("--allow-write") && !args.includes("--allow-all"));
  assert.match(
    args.join(" "),
    /--include lua --include config\/gateway.yml --include COMMIT --include src\/delivery\/sink_worker.ts/,
  );
  assert.equal(args.at(-1), "main.ts");
});

Deno.test("compile on an empty Deno cache gets past type-checking and names DENORT_BIN", async () => {
  const cache = await Deno.makeTempDir({ prefix: "deno-dir-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: ROOT,
      env: { DENO_DIR: cache, DENORT_BIN: `${cache}/no-such-denort`, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 1, text);
    assert.doesNotMatch(text, /heap limit|out of memory|error: TS\d+/i);
    assert.match(text, /Check main\.ts/);
    assert.match(text, /DENORT_BIN=.*no-such-denort is not a usable denort/);
    assert.match(text, /set DENORT_BIN to an unpacked denort \d+\.\d+\.\d+ for x86_64/);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
