/** The harness itself: every real server starts on a free port, answers, and stops. */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  clickhouseQuery,
  s3rverClient,
  startClickHouse,
  startInfluxd,
  startMosquitto,
  startRedis,
  startS3rver,
} from "./servers.ts";
import { PtyPair } from "./pty.ts";

Deno.test("clickhouse-server starts in a temp dir and answers queries", async () => {
  const ch = await startClickHouse();
  try {
    assert.equal((await clickhouseQuery(ch.port, "SELECT 1 + 1")).trim(), "2");
  } finally {
    await ch.stop();
  }
});

Deno.test("s3rver starts in its own process and stores objects (npm:minio client)", async () => {
  const s3 = await startS3rver();
  try {
    const client = s3rverClient(s3.port);
    await client.makeBucket("harness");
    await client.putObject("harness", "a/b.txt", Buffer.from("hello"));
    const stream = await client.getObject("harness", "a/b.txt");
    const chunks: Uint8Array[] = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), "hello");
  } finally {
    await s3.stop();
  }
});

Deno.test("redis, mosquitto, influxd and a socat pty pair start and stop", async () => {
  for (const start of [startRedis, startMosquitto, startInfluxd]) {
    const server = await start();
    assert.ok(server.running);
    await server.stop();
    assert.equal(server.running, false);
  }
  const pty = await PtyPair.create();
  assert.ok((await Deno.lstat(pty.device)).isSymlink);
  await pty.unplug();
});
