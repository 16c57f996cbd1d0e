/** Without ffmpeg, `check` and /health say so clearly; other nodes keep working. */
import assert from "node:assert/strict";
import { runCli, spawnGateway } from "../helpers/cli.ts";
import { freePort, startMosquitto, waitFor } from "../helpers/servers.ts";

function config(dir: string, mqttPort: number, httpPort: number): string {
  return `gateway: {id: t, data_dir: ${dir}}
http: {port: ${httpPort}}
sources:
  cams:
    type: mqtt
    url: mqtt://127.0.0.1:${mqttPort}
    topics: ["pepeunit/+/pepeunit"]
    policies:
      nodes:
        cam1: {image_policy: {timelapse: {frames: 10}}}
`;
}

Deno.test("ffmpeg missing: check exits 2 naming it, /health is degraded and /status says what to install", async () => {
  const broker = await startMosquitto();
  const dir = await Deno.makeTempDir();
  const port = freePort();
  await Deno.writeTextFile(`${dir}/gateway.yml`, config(dir, broker.port, port));
  const noFfmpeg = { PATH: `${dir}/empty-path` };
  try {
    const ok = await runCli(["check", `${dir}/gateway.yml`]);
    assert.equal(ok.code, 0, ok.stderr);
    const missing = await runCli(["check", `${dir}/gateway.yml`], { env: noFfmpeg });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /sources\.cams\.policies: ffmpeg was not found on PATH/);
    assert.match(missing.stderr, /apt-get install ffmpeg/);

    const child = spawnGateway(`${dir}/gateway.yml`, { env: noFfmpeg });
    try {
      let health: { status: string; components: Record<string, string> } | null = null;
      await waitFor(async () => {
        health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
        return health!.components["mqtt.cams"] !== "starting";
      }, { what: "the source subscribed" });
      assert.equal(health!.status, "degraded");
      assert.equal(health!.components["mqtt.cams"], "degraded");
      const status = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
      assert.match(status.sources.cams.timelapse.ffmpeg, /ffmpeg was not found/);
      assert.match(status.sources.cams.last_error.message, /apt-get install ffmpeg/);
    } finally {
      child.kill("SIGTERM");
      await child.stderr.cancel();
      await child.status;
    }
  } finally {
    await broker.stop();
  }
});
