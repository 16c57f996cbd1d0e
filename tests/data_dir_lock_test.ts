import assert from "node:assert/strict";
import { DataDirInUseError, DataDirLock } from "../src/data_dir_lock.ts";
import { runCli } from "./helpers/cli.ts";
import { type GatewayProcess, startGateway } from "./helpers/gateway.ts";
import { freePort, waitFor } from "./helpers/servers.ts";

const demo = (port: number, dataDir: string) => `
gateway: { id: lock, data_dir: ${dataDir} }
http: { port: ${port} }
store: { type: embedded }
sources:
  mppt1: { type: vedirect, simulate: mppt, interval: 200ms }
`;

/** The first gateway still answers its API, its page and holds its socket. */
async function assertServing(g: GatewayProcess): Promise<void> {
  const health = await g.health();
  assert.equal(health.code, 200);
  const page = await fetch(`${g.url}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /mppt1/);
  assert.ok(Deno.statSync(`${g.dir}/data/http.sock`).isSocket, "the first gateway's socket stays");
}

Deno.test("a second lock on a data dir is refused with the holder's PID; a released one is free", async () => {
  const dir = await Deno.makeTempDir();
  const lock = await DataDirLock.acquire(dir);
  const refused = await DataDirLock.acquire(dir).then(() => null, (e) => e);
  assert.ok(refused instanceof DataDirInUseError);
  assert.equal(refused.pid, Deno.pid);
  assert.match(refused.message, new RegExp(`data dir ${dir} is in use by PID ${Deno.pid}`));
  assert.match(refused.message, /gateway\.data_dir, or GATEWAY_DATA_DIR/);
  lock.release();
  (await DataDirLock.acquire(dir)).release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the lock is on the data dir itself: deleting gateway.lock does not free it", async () => {
  const dir = await Deno.makeTempDir();
  const lock = await DataDirLock.acquire(dir);
  await Deno.remove(`${dir}/gateway.lock`);
  const refused = await DataDirLock.acquire(dir).then(() => null, (e) => e);
  assert.ok(refused instanceof DataDirInUseError, String(refused));
  assert.match(refused.message, new RegExp(`data dir ${dir} is in use by another process`));
  lock.release();
  (await DataDirLock.acquire(dir)).release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("with gateway.lock deleted under a running gateway, a second one still exits 2; the first keeps its port and socket", async () => {
  const first = await startGateway(demo);
  try {
    await first.up("vedirect.mppt1");
    await Deno.remove(`${first.dir}/data/gateway.lock`);
    for (const port of [first.port, freePort()]) {
      await Deno.writeTextFile(`${first.dir}/second.yml`, demo(port, `${first.dir}/data`));
      const second = await runCli(["run", "--config", `${first.dir}/second.yml`]);
      assert.equal(second.code, 2, second.stderr);
      assert.match(second.stderr, new RegExp(`data dir ${first.dir}/data is in use by `));
      await assertServing(first);
      const before = (await first.status()).sources.mppt1.processed;
      await waitFor(async () => (await first.status()).sources.mppt1.processed > before, {
        what: "the first gateway still storing samples",
      });
    }
    // The refused one touched nothing in the data dir, not even a new lock file.
    assert.equal(await Deno.stat(`${first.dir}/data/gateway.lock`).catch(() => null), null);
  } finally {
    await first.stop();
  }
});

Deno.test("a second gateway on the same data dir exits 2 at once, on the same port or another; the first keeps serving", async () => {
  const first = await startGateway(demo);
  try {
    await first.up("vedirect.mppt1");
    for (const port of [first.port, freePort()]) {
      await Deno.writeTextFile(`${first.dir}/second.yml`, demo(port, `${first.dir}/data`));
      const second = await runCli(["run", "--config", `${first.dir}/second.yml`]);
      assert.equal(second.code, 2, second.stderr);
      assert.match(
        second.stderr,
        new RegExp(`data dir ${first.dir}/data is in use by PID ${first.child.pid} `),
      );
      await assertServing(first);
    }
  } finally {
    await first.stop();
  }
});

Deno.test("after kill -9 a restart on the same data dir takes the lock at once", async () => {
  const first = await startGateway(demo);
  await first.up("vedirect.mppt1");
  first.child.kill("SIGKILL");
  await first.child.status;
  await first.stop();
  const restarted = await startGateway(demo, { dir: first.dir });
  try {
    await restarted.up("vedirect.mppt1");
    await assertServing(restarted);
    const pid = Number((await Deno.readTextFile(`${first.dir}/data/gateway.lock`)).trim());
    assert.equal(pid, restarted.child.pid);
  } finally {
    await restarted.stop();
    await Deno.remove(first.dir, { recursive: true });
  }
});
