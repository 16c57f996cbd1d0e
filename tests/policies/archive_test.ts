/** File policy archives open with the standard tools (tar, Python's zipfile, gunzip). */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { type Compression, loadArchivers, pack } from "../../src/policies/archive.ts";

await loadArchivers();

const data = new Uint8Array(5000).map((_, i) => (i * 7) % 251);
const options = { level: 9, name: "1795413600000.jpg", mtime: Date.UTC(2026, 10, 23) };

async function run(cmd: string, args: string[], cwd: string): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

Deno.test("gzip, tar, tgz and zip hold the payload under its name; levels change the size", async () => {
  const dir = await Deno.makeTempDir();
  assert.deepEqual(pack(data, "none", options), data);
  assert.deepEqual(new Uint8Array(gunzipSync(pack(data, "gzip", options))), data);
  for (const [format, args] of [["tar", ["-xOf"]], ["tgz", ["-xzOf"]]] as const) {
    await Deno.writeFile(`${dir}/a.${format}`, pack(data, format as Compression, options));
    const listed = new TextDecoder().decode(await run("tar", ["-tvf", `a.${format}`], dir));
    assert.match(listed, /1795413600000\.jpg/);
    assert.match(listed, / 5000 2026-11-23/);
    assert.deepEqual(await run("tar", [...args, `a.${format}`, options.name], dir), data);
  }
  await Deno.writeFile(`${dir}/a.zip`, pack(data, "zip", options));
  await run("python3", ["-m", "zipfile", "-e", "a.zip", "out"], dir);
  assert.deepEqual(await Deno.readFile(`${dir}/out/${options.name}`), data);
  const stored = pack(data, "zip", { ...options, level: 0 }).length;
  assert.ok(pack(data, "zip", options).length < stored, "level 9 is smaller than level 0");
  const small = pack(data, "gzip", { ...options, windowBits: 9 });
  assert.deepEqual(new Uint8Array(gunzipSync(small)), data);
  assert.deepEqual(pack(data, "tgz", options), pack(data, "tgz", options), "deterministic bytes");
});
