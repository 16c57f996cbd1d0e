/**
 * TLS to the servers that speak it here: mosquitto, redis-server, influxd,
 * clickhouse-server, s3rver and a webhook receiver, each with a
 * certificate from a CA made in the test. The gateway trusts that CA through
 * its config (`ca:`), and without it the connection is refused.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import https from "node:https";
import { Agent } from "../src/agent.ts";
import { loadConfigFile, parseConfig } from "../src/config/load.ts";
import { gatewaySchema } from "../src/config/schema.ts";
import { configureLog } from "../src/log.ts";
import { createLogger } from "../src/log.ts";
import type { Envelope } from "../src/model.ts";
import { RetryableError } from "../src/errors.ts";
import { sinkPlugin } from "../src/sinks/registry.ts";
import { ComponentStatus } from "../src/status.ts";
import { systemClock } from "../src/util/clock.ts";
import {
  fetchWith,
  freePort,
  startClickHouse,
  startInfluxd,
  startMosquitto,
  startRedis,
  startS3rver,
  waitFor,
} from "./helpers/servers.ts";
import { makeTestCa, signCertificate, type TestCa } from "./helpers/tls.ts";

configureLog({ level: "error" });

Deno.test("MQTT over TLS and the Redis store over TLS, trusting a private CA from the config", async () => {
  const ca = await makeTestCa();
  const broker = await startMosquitto({ tls: ca });
  const redis = await startRedis({ tls: ca });
  const dir = await Deno.makeTempDir({ prefix: "tls-" });
  const agent = new Agent(parseConfig(
    `gateway: {id: tls, data_dir: ${dir}}
http: {enabled: false}
store: {type: redis, redis: {port: ${redis.port}, tls: true, ca: ${ca.ca}}}
sources:
  units: {type: mqtt, url: "mqtts://127.0.0.1:${broker.port}", topics: ["site/+"], client_id: tls, ca: ${ca.ca}}
  untrusted: {type: mqtt, url: "mqtts://127.0.0.1:${broker.port}", topics: ["other/+"], client_id: untrusted}
`,
    gatewaySchema,
  ));
  await agent.start();
  const pub = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, {
    ca: await Deno.readTextFile(ca.ca),
  });
  try {
    await waitFor(() => agent.control.health().components["mqtt.units"] === "up", {
      what: "subscribed",
    });
    assert.equal(agent.store.status.state, "up", "Redis over TLS");
    await pub.publishAsync("site/a", "21.5", { qos: 1 });
    await waitFor(async () => {
      const points = await agent.control.query({
        node: "a",
        from: Date.now() - 60_000,
        to: Date.now() + 1000,
      });
      return points.length === 1;
    }, { what: "the sample in Redis, over TLS both ways" });
    // Without the CA the server's certificate is not trusted: that source never connects.
    const untrusted = agent.control.status().sources.untrusted;
    assert.notEqual(untrusted.state, "up");
    assert.match(String(untrusted.last_error?.message), /certificate|unknown issuer|self.signed/i);
  } finally {
    await pub.endAsync();
    await agent.stop();
    await Promise.all([broker.stop(), redis.stop()]);
  }
});

/** A sink of `config`'s type, built by its plugin, with its status. */
function sinkOf(config: Record<string, unknown>) {
  const plugin = sinkPlugin(String(config.type))!;
  const status = new ComponentStatus("up", String(config.type));
  const ctx = {
    name: "up",
    gatewayId: "tls",
    log: createLogger("test"),
    status,
    clock: systemClock,
  };
  return plugin.create(plugin.schema.parse(config), ctx);
}

/** Writes with the CA (arrives) and without it (refused as untrusted, to be retried). */
async function trustedOnly(
  config: Record<string, unknown>,
  options: { ca: string; batch: Envelope[] },
): Promise<void> {
  const trusted = sinkOf({ ...config, ca: options.ca });
  await trusted.connect?.();
  await trusted.write(options.batch);
  await trusted.close?.();
  const untrusted = sinkOf(config);
  const error = await (async () => {
    await untrusted.connect?.();
    await untrusted.write(options.batch);
  })().then(() => null, (e: Error) => e);
  await untrusted.close?.();
  assert.ok(error instanceof RetryableError, `${config.type}: ${error}`);
  assert.match(error.message, /certificate|unknown ?issuer|self.signed|UnknownIssuer/i);
}

Deno.test("HTTP sinks over TLS (InfluxDB, ClickHouse, S3, webhook) trust a private CA from the config", async () => {
  const ca = await makeTestCa();
  const [influx, ch, s3] = await Promise.all([
    startInfluxd({ tls: ca }),
    startClickHouse({ tls: ca }),
    startS3rver({ tls: ca }),
  ]);
  const posted: unknown[] = [];
  const hook = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(ca.cert),
    key: await Deno.readTextFile(ca.key),
    onListen: () => {},
  }, async (req) => {
    posted.push(await req.json());
    return new Response(null, { status: 204 });
  });
  const get = fetchWith(ca);
  const now = Date.now();
  try {
    await trustedOnly({
      type: "influxdb",
      url: `https://127.0.0.1:${influx.port}`,
      database: "gw",
      create_database: true,
    }, {
      ca: ca.ca,
      batch: [{ kind: "sample", data: { source: "t", node: "n", ts: now, fields: { V: 12.5 } } }],
    });
    const q = await get(
      `https://127.0.0.1:${influx.port}/query?db=gw&q=${encodeURIComponent('SELECT V FROM "t"')}`,
    );
    assert.equal((await q.json()).results[0].series[0].values[0][1], 12.5);

    await trustedOnly({ type: "clickhouse", url: `https://127.0.0.1:${ch.port}` }, {
      ca: ca.ca,
      batch: [{
        kind: "entry",
        data: {
          table: "window_entry",
          node: "n",
          ts: now,
          state: "1",
          state_type: "Number",
          expires: now + 60_000,
          size: 1,
        },
      }],
    });
    const count = await get(`https://127.0.0.1:${ch.port}/`, {
      method: "POST",
      body: "SELECT count() FROM default.window_entry",
    });
    assert.equal((await count.text()).trim(), "1");

    await trustedOnly({
      type: "s3",
      url: `https://127.0.0.1:${s3.port}`,
      bucket: "files",
      access_key: "S3RVER",
      secret_key: "S3RVER",
    }, {
      ca: ca.ca,
      batch: [{
        kind: "file",
        data: {
          node: "cam",
          ts: now,
          key: "cam/1.jpg",
          content_type: "image/jpeg",
          body: "AA==",
          expires: 0,
        },
      }],
    });
    assert.ok(
      await Deno.stat(`${s3.dir}/files/cam/1.jpg._S3rver_object`).catch(() => null) ?? true,
    );

    await trustedOnly({ type: "webhook", url: `https://127.0.0.1:${hook.addr.port}/hook` }, {
      ca: ca.ca,
      batch: [{ kind: "event", data: { id: "e1", type: "alert", ts: now, data: { node: "n" } } }],
    });
    assert.equal(posted.length, 1);

    // Deno's fetch verifies always: `insecure` on a fetch-based sink is refused by `check`.
    const webhook = sinkPlugin("webhook")!;
    const refused = webhook.schema.safeParse({
      type: "webhook",
      url: "https://x/",
      insecure: true,
    });
    assert.ok(!refused.success);
    assert.match(refused.error.issues[0].message, /insecure.*ca:/);
  } finally {
    await hook.shutdown();
    await Promise.all([influx.stop(), ch.stop(), s3.stop()]);
  }
});

/** An HTTPS receiver that takes only clients with a certificate from the CA (node:https). */
function clientCertReceiver(
  ca: TestCa,
  options: { cert: string; key: string; requireClientCert: boolean },
): Promise<{ port: number; posted: unknown[]; close(): void }> {
  const posted: unknown[] = [];
  const server = https.createServer({
    cert: Deno.readTextFileSync(options.cert),
    key: Deno.readTextFileSync(options.key),
    ca: Deno.readTextFileSync(ca.ca),
    requestCert: options.requireClientCert,
    rejectUnauthorized: options.requireClientCert,
  }, (req, res) => {
    let body = "";
    req.on("data", (c) => body += c);
    req.on("end", () => {
      posted.push(...JSON.parse(body));
      res.writeHead(204);
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as { port: number }).port,
        posted,
        close: () => server.close(),
      }))
  );
}

Deno.test("an unknown CA, a receiver that demands a client certificate and an expired certificate are refused: the records wait and go once reloads give the CA and the certificate", async () => {
  const ca = await makeTestCa();
  const client = await signCertificate(ca, { kind: "client", name: "gateway" });
  const expired = await signCertificate(ca, { kind: "expired-server", name: "expired" });
  const strict = await clientCertReceiver(ca, { ...ca, requireClientCert: true });
  const stale = await clientCertReceiver(ca, { ...expired, requireClientCert: false });
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const file = `${dir}/gateway.yml`;
  const write = (strictTls: string) =>
    Deno.writeTextFile(
      file,
      `gateway: {id: tls, data_dir: ${dir}/data}
http: {port: ${port}, token: t}
sinks:
  strict:
    type: webhook
    url: https://127.0.0.1:${strict.port}/hook
    forward: [sample]
    mode: batch
    backoff_min: 50ms
    backoff_max: 200ms
${strictTls}  stale:
    type: webhook
    url: https://127.0.0.1:${stale.port}/hook
    forward: [sample]
    mode: batch
    backoff_min: 50ms
    backoff_max: 200ms
    ca: ${ca.ca}
`,
    );
  await write("");
  const agent = new Agent(await loadConfigFile(file, gatewaySchema), { configFile: file });
  await agent.start();
  const url = `http://127.0.0.1:${port}`;
  type Sink = { last_error: { message: string } | null; queue: { records: number } };
  const sinks = async () =>
    (await (await fetch(`${url}/status`)).json()).sinks as Record<string, Sink>;
  try {
    const res = await fetch(`${url}/ingest`, {
      method: "POST",
      headers: { Authorization: "Bearer t", "Content-Type": "application/json" },
      body: JSON.stringify([1, 2, 3].map((v) => ({ node: "n", fields: { v } }))),
    });
    assert.equal(res.status, 200, await res.text());
    // Without the site's CA, without a client certificate, past the certificate's end: each
    // refused, named in /status, the records kept.
    const refusal = async (sink: "strict" | "stale", reason: RegExp) => {
      await waitFor(async () => reason.test((await sinks())[sink].last_error?.message ?? ""), {
        what: `${sink}: ${reason}`,
      });
    };
    await refusal("strict", /UnknownIssuer|unknown issuer/i);
    await write(`    ca: ${ca.ca}\n`);
    assert.ok((await agent.control.reload()).ok);
    await refusal("strict", /CertificateRequired|certificate required/i);
    await refusal("stale", /certificate expired/i);
    const refused = await sinks();
    assert.match(refused.stale.last_error!.message, /certificate expired/i);
    assert.equal(refused.strict.queue.records, 3, "the records wait in the outbox");
    assert.equal(refused.stale.queue.records, 3);
    assert.equal(strict.posted.length, 0);
    assert.equal(stale.posted.length, 0);

    // The certificate given by a reload: the waiting records go, once each.
    await write(`    ca: ${ca.ca}\n    cert: ${client.cert}\n    key: ${client.key}\n`);
    const reload = await agent.control.reload();
    assert.ok(reload.ok, JSON.stringify(reload));
    await waitFor(() => strict.posted.length >= 3, { what: "delivery after the reload" });
    await waitFor(async () => (await sinks()).strict.queue.records === 0, { what: "queue empty" });
    assert.deepEqual(
      strict.posted.map((p) => (p as { fields: { v: number } }).fields.v),
      [1, 2, 3],
    );
    assert.equal((await sinks()).stale.queue.records, 3, "the expired one still holds its own");
  } finally {
    await agent.stop();
    strict.close();
    stale.close();
  }
});
