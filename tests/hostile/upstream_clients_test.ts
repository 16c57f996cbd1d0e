/**
 * Attack: hostile upstreams behind the npm clients that read answers themselves (ClickHouse's
 * reads an error body whole into one string, minio its XML). Through the sinks' bounded agent,
 * a 300 MiB error, an endless 200, a 302 to a login page and a 307 to another origin each end as
 * a retried error (the redirect's names where it pointed); the records wait in the outbox and
 * arrive once the upstream behaves; nothing reaches the other origin. A spawned gateway takes the
 * records over MQTT (pepeunit rows for ClickHouse, files for S3); its sink runs on the main thread
 * and, for ClickHouse, in a Worker (`gateway.delivery_workers`). Its resident memory is measured,
 * not the test runner's.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt";
import { type GatewayProcess, startGateway } from "../helpers/gateway.ts";
import {
  mib,
  startHostileUpstream,
  startRecordingServer,
  TAKEN_BOUND,
} from "../helpers/hostile_upstream.ts";
import {
  clickhouseQuery,
  objectKeys,
  s3rverClient,
  type Server,
  startClickHouse,
  startMosquitto,
  startS3rver,
  waitFor,
} from "../helpers/servers.ts";

const N = 50;
/**
 * How far the gateway's resident memory may rise over what it held once the first record was
 * delivered: each attack sends 300 MiB or more, and a body read whole (the old code) cost 700 MiB
 * and more per attempt; the bounded agent takes at most 16 MiB of an answer (plus the client's
 * copies of it). The bytes taken per answer are the tight check.
 */
const RSS_GROWTH_BOUND_MIB = 200;
/** Quick retries, so each attack is met again and again. */
const FAST = "max_wait: 20ms, backoff_min: 50ms, backoff_max: 200ms, timeout: 5s";
const W = "11111111-1111-4111-8111-111111111111"; // TimeWindow: every value is a row

const HOSTILE = ["huge_error", "endless", "login_redirect", "cross_redirect"] as const;

/** What each bad answer leaves as the sink's last error. */
const EXPECTED: Record<string, Record<(typeof HOSTILE)[number], RegExp>> = {
  clickhouse: {
    huge_error: /the server sent an answer larger than 16 MiB/,
    endless: /the server sent an answer larger than 16 MiB/,
    login_redirect: /the server answered 302, a redirect to \/login: redirects are not followed/,
    cross_redirect: /the server answered 307, a redirect to http:\/\/127\.0\.0\.1:\d+\//,
  },
  s3: {
    // minio retries a 500 once without reading its body, then says so.
    huge_error: /500/,
    endless: /the server sent an answer larger than 16 MiB/,
    login_redirect: /the server answered 302, a redirect to \/login: redirects are not followed/,
    cross_redirect: /the server answered 307, a redirect to http:\/\/127\.0\.0\.1:\d+\//,
  },
};

/**
 * Delivers N records through a hostile upstream in front of `target`, mode after mode, then
 * forwards; `arrived` counts them at the real server. The gateway takes them over MQTT.
 */
async function throughHostile(
  target: Server,
  options: {
    kind: "clickhouse" | "s3";
    /** The sink's config (YAML flow mapping) for the upstream at `url`. */
    sink: (url: string) => string;
    arrived: () => Promise<number>;
    workers: boolean;
  },
): Promise<void> {
  const broker = await startMosquitto();
  const other = startRecordingServer();
  // Well first, so the sink connects and the writes meet the attacks.
  const up = await startHostileUpstream({
    mode: "forward",
    target: target.port,
    other: other.url,
  });
  const topic = options.kind === "clickhouse" ? `pepeunit/${W}/pepeunit` : "cam/n/img";
  const yaml = (port: number, data: string) =>
    `gateway: {id: hostile, data_dir: ${data}, delivery_workers: ${options.workers}}
log: {level: error}
http: {port: ${port}}
sources:
  units:
    type: mqtt
    url: mqtt://127.0.0.1:${broker.port}
    topics: ["${topic.replace(/\/[^/]+\/(pepeunit|img)$/, "/+/$1")}"]
    client_id: hostile
    policies:
      nodes:
        ${W}: {processing_policy: {policy_type: TimeWindow, time_window_size: 86400}}
      default: {file_policy: {}}
sinks:
  sink: ${options.sink(up.url)}
`;
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  // Files must be binary (a text payload is not a file: text_not_accepted).
  const payload = (i: number) =>
    options.kind === "s3" ? Buffer.from([0, 0xff, i & 0xff, i >> 8]) : String(i);
  const publish = (from: number, to: number) =>
    Promise.all(
      Array.from({ length: to - from }, (_, i) =>
        pub.publishAsync(topic, payload(from + i), { qos: 1 })),
    );
  let gw: GatewayProcess | undefined;
  try {
    gw = await startGateway(yaml);
    await gw.up("mqtt.units");
    const g = gw;
    const sink = async () => {
      const s = (await g.status()).sinks.sink;
      return { ...s, last_error: s.last_error as { message?: string } | null };
    };
    await publish(0, 1);
    await waitFor(async () => (await options.arrived()) === 1, {
      what: "the first record",
    }).catch(async (e) => {
      const units = (await g.status()).sources.units;
      throw new Error(
        `${e.message}: ${(await sink()).last_error?.message}; source ${
          JSON.stringify({ dropped: units.dropped, counters: units.counters })
        }`,
      );
    });
    // The server shows the row before its answer reaches the gateway: wait for the ack too.
    await waitFor(async () => (await sink()).queue.records === 0, {
      what: "the first acknowledged",
    });
    const start = gw.rssMiB();
    await up.setMode("huge_error");
    await publish(1, N);
    await waitFor(async () => (await sink()).queue.records === N - 1, { what: "all taken" });
    for (const m of HOSTILE) {
      await up.setMode(m);
      let last = "";
      await waitFor(
        async () => {
          last = (await sink()).last_error?.message ?? "";
          return ((await up.state()).answered[m] ?? 0) >= 2 && EXPECTED[options.kind][m].test(last);
        },
        { what: `${options.kind} failing on ${m}`, timeoutMs: 60_000 },
      );
      assert.equal((await sink()).queue.records, N - 1, `after ${m}: nothing delivered`);
      console.log(`${m}: ${last.slice(0, 160)}; gateway RSS +${gw.peakRssMiB() - start} MiB`);
    }
    await up.setMode("forward");
    await waitFor(async () => (await options.arrived()) === N, {
      what: `${N} records at ${options.kind}`,
      timeoutMs: 60_000,
    });
    await waitFor(async () => (await sink()).queue.records === 0, { what: "the outbox drained" });
    assert.deepEqual(other.requests, []);
    // The bound held: no answer was taken far past 16 MiB (the sockets between hold some MiB).
    const { largest } = await up.state();
    console.log(`most of one answer taken (MiB): ${JSON.stringify(mib(largest))}`);
    for (const m of ["huge_error", "endless"]) {
      assert.ok((largest[m] ?? 0) < TAKEN_BOUND, `${m}: ${largest[m]} bytes taken`);
    }
    assert.equal((await up.state()).loginRequests, 0);
    const peak = gw.peakRssMiB();
    console.log(
      `gateway RSS ${start.toFixed(0)} MiB after the first record, peak +${
        (peak - start).toFixed(0)
      } MiB`,
    );
    assert.ok(peak - start < RSS_GROWTH_BOUND_MIB, `gateway RSS rose by ${peak - start} MiB`);
  } finally {
    await gw?.stop();
    await pub.endAsync();
    await up.close();
    await other.close();
    await broker.stop();
  }
}

Deno.test("hostile upstreams before ClickHouse and S3: bounded answers, no redirect followed, nothing lost", async (t) => {
  const ch = await startClickHouse();
  const s3 = await startS3rver();
  try {
    for (const workers of [false, true]) {
      const db = workers ? "hostile_w" : "hostile";
      await t.step(
        `ClickHouse${workers ? " (the sink in a Worker)" : ""}`,
        () =>
          throughHostile(ch, {
            kind: "clickhouse",
            workers,
            sink: (url) =>
              `{type: clickhouse, url: "${url}", database: ${db}, retention_every: 1h, ${FAST}}`,
            arrived: async () =>
              Number(
                await clickhouseQuery(ch.port, `SELECT count() FROM ${db}.window_entry`)
                  .catch(() => "0"),
              ),
          }),
      );
    }
    await t.step("S3", () =>
      throughHostile(s3, {
        kind: "s3",
        workers: false,
        sink: (url) =>
          `{type: s3, url: "${url}", bucket: hostile-files, access_key: S3RVER, secret_key: S3RVER, sweep_every: 1h, ${FAST}}`,
        arrived: async () =>
          (await objectKeys(s3rverClient(s3.port), "hostile-files").catch(() => [])).length,
      }));
  } finally {
    await ch.stop();
    await s3.stop();
  }
});
