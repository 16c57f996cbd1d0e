/** The S3 sink against s3rver: deterministic keys overwrite, expired window objects are swept, outages retry. */
import { type Clock, FakeClock, systemClock } from "../../../src/util/clock.ts";
import { WallClock } from "../../../src/util/wall_clock.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createLogger } from "../../../src/log.ts";
import type { Envelope } from "../../../src/model.ts";
import { s3Schema, S3Sink } from "../../../src/sinks/s3/mod.ts";
import { RetryableError } from "../../../src/errors.ts";
import { ComponentStatus } from "../../../src/status.ts";
import { objectKeys, readObject, s3rverClient, startS3rver } from "../../helpers/servers.ts";

function file(key: string, body: string, expires = 0): Envelope {
  return {
    kind: "file",
    data: {
      node: "cam",
      ts: Date.now(),
      key,
      content_type: "image/jpeg",
      body: Buffer.from(body).toString("base64"),
      expires,
    },
  };
}

/** An S3 sink on the test's s3rver, writing to `bucket`. */
function s3SinkAt(port: number, bucket: string, clock: Clock) {
  const status = new ComponentStatus("files", "s3");
  const config = s3Schema.parse({
    type: "s3",
    url: `http://127.0.0.1:${port}`,
    bucket,
    access_key: "S3RVER",
    secret_key: "S3RVER",
    sweep_every: "1h",
  });
  const ctx = { name: "files", gatewayId: "t", log: createLogger("test"), status, clock };
  return { sink: new S3Sink(config, ctx), status };
}

Deno.test("S3 sink: a replay overwrites the same key, expired window objects go, an outage is retried", async () => {
  const s3 = await startS3rver();
  const { sink, status } = s3SinkAt(s3.port, "unit-files", systemClock);
  const client = s3rverClient(s3.port);
  try {
    await sink.connect();
    const now = Date.now();
    const batch = [
      file("cam/n/0.jpg", "first"),
      file(`cam/window/${now - 1000}-${now - 61_000}.jpg`, "expired", now - 1000),
      file(`cam/window/${now + 59_000}-${now - 1000}.jpg`, "live", now + 59_000),
    ];
    await sink.write(batch);
    await sink.write(batch); // a replay
    await sink.write([file("cam/n/0.jpg", "second")]);
    assert.equal((await objectKeys(client, "unit-files")).length, 3);
    assert.equal((await readObject(client, "unit-files", "cam/n/0.jpg")).toString(), "second");
    const stat = await client.statObject("unit-files", "cam/n/0.jpg");
    assert.equal(stat.metaData["content-type"], "image/jpeg");
    assert.equal(stat.metaData.node, "cam");

    await sink.sweep(now);
    assert.deepEqual(await objectKeys(client, "unit-files"), [
      "cam/n/0.jpg",
      `cam/window/${now + 59_000}-${now - 1000}.jpg`,
    ]);
    assert.equal(status.counters.expired_objects, 1);

    await s3.kill();
    await assert.rejects(sink.write([file("cam/n/1.jpg", "during")]), RetryableError);
    await s3.start();
    await sink.write([file("cam/n/1.jpg", "during")]);
    assert.ok((await objectKeys(client, "unit-files")).includes("cam/n/1.jpg"));
  } finally {
    await sink.close();
    await s3.stop();
  }
});

Deno.test("S3 sink: a forward step of the clock expires no window object before its time", async () => {
  const s3 = await startS3rver();
  const base = new FakeClock(Date.UTC(2026, 0, 1));
  const clock = new WallClock(base);
  const { sink } = s3SinkAt(s3.port, "step-files", clock);
  const client = s3rverClient(s3.port);
  try {
    await sink.connect();
    const t = base.now();
    const key = `cam/window/${t + 60_000}-${t}.jpg`; // a one-minute TimeWindow
    await sink.write([file(key, "young", t + 60_000)]);
    base.step(2 * 86_400_000); // NTP: two days forward
    await sink.sweep();
    assert.deepEqual(await objectKeys(client, "step-files"), [key], "not expired by the step");
    await base.advance(61_000);
    await sink.sweep();
    assert.deepEqual(await objectKeys(client, "step-files"), [], "expired a minute later");
  } finally {
    await sink.close();
    await s3.stop();
  }
});

Deno.test("S3 sink: a bucket gone since connect is made again, and the write retried", async () => {
  const s3 = await startS3rver();
  const { sink } = s3SinkAt(s3.port, "gone-files", systemClock);
  const client = s3rverClient(s3.port);
  try {
    await sink.connect();
    await client.removeBucket("gone-files");
    await assert.rejects(sink.write([file("cam/n/0.jpg", "first")]), /NoSuchBucket/);
    await sink.write([file("cam/n/0.jpg", "first")]);
    assert.deepEqual(await objectKeys(client, "gone-files"), ["cam/n/0.jpg"]);
  } finally {
    await sink.close();
    await s3.stop();
  }
});
