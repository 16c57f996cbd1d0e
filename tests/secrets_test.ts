/**
 * No secret leaves the gateway: a distinct known secret in every secret-bearing
 * key, every sink failing and every log level firing, and none of them shows in
 * `check`, the logs, /status, the page, its fragment or /metrics.
 */
import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.ts";
import { startGateway } from "./helpers/gateway.ts";
import { freePort, waitFor } from "./helpers/servers.ts";

const S = (n: number) => `s3cr3t-${n}-x9q`;
const SECRETS = Array.from({ length: 18 }, (_, i) => S(i + 1));

const yaml = (port: number, data: string) => {
  const dead = freePort(); // nothing listens: every sink fails, with its URL in the error
  return `gateway: {id: sec, data_dir: ${data}}
log: {level: debug}
http: {port: ${port}, token: ${S(1)}}
sources:
  mppt1: {type: vedirect, simulate: mppt, interval: 200ms}
  units: {type: mqtt, url: "mqtt://127.0.0.1:${dead}", topics: [a/+], username: u, password: ${
    S(2)
  }}
  scada: {type: redis_keys, port: ${dead}, patterns: ["x:*"], password: ${S(3)}, interval: 200ms}
sinks:
  influx: {type: influxdb, url: "http://gw:${
    S(4)
  }@127.0.0.1:${dead}", database: d, username: gw, password: ${S(5)}, backoff_max: 200ms}
  influx2: {type: influxdb, api: v2, url: "http://127.0.0.1:${dead}", org: o, bucket: b, token: ${
    S(6)
  }, backoff_max: 200ms}
  hook: {type: webhook, url: "http://127.0.0.1:${dead}/h", headers: {Authorization: "Bearer ${
    S(7)
  }", X-Api-Key: ${S(8)}}, forward: [sample], backoff_max: 200ms}
  ch: {type: clickhouse, url: "http://127.0.0.1:${dead}", password: ${
    S(9)
  }, forward: [sample], backoff_max: 200ms}
  files: {type: s3, url: "http://127.0.0.1:${dead}", bucket: bkt, access_key: ${
    S(10)
  }, secret_key: ${S(11)}, forward: [sample], backoff_max: 200ms}
  up: {type: mqtt, url: "mqtt://u:${S(12)}@127.0.0.1:${dead}", password: ${
    S(13)
  }, backoff_max: 200ms}
  ha: {type: homeassistant, url: "mqtt://127.0.0.1:${dead}", username: ha, password: ${
    S(14)
  }, backoff_max: 200ms}
  pg: {type: postgres, url: "postgres://pepe:${S(15)}@127.0.0.1:${dead}/pepeunit", password: ${
    S(16)
  }, forward: [sample], backoff_max: 200ms, timeout: 1s}
  lake: {type: kafka, brokers: ["127.0.0.1:${dead}"], sasl: {mechanism: plain, username: k, password: ${
    S(17)
  }}, forward: [sample], backoff_max: 200ms, timeout: 1s}
  lake2: {type: kafka, brokers: ["127.0.0.1:${dead}"], sasl: {mechanism: scram-sha-512, username: k, password: ${
    S(18)
  }}, forward: [sample], backoff_max: 200ms, timeout: 1s}
`;
};

function leaks(where: string, text: string): string[] {
  return SECRETS.filter((s) => text.includes(s)).map((s) => `${s} in ${where}`);
}

Deno.test("no configured secret shows in check, the logs, /status, the page or /metrics; a stop with every upstream down is graceful", async () => {
  const dir = await Deno.makeTempDir({ prefix: "secrets-" });
  await Deno.writeTextFile(`${dir}/check.yml`, yaml(freePort(), `${dir}/data`));
  const check = await runCli(["check", `${dir}/check.yml`]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /password: "\*\*\*"/);
  const gw = await startGateway(yaml);
  let logs = "";
  const found: string[] = [...leaks("check", check.stdout + check.stderr)];
  try {
    // Every sink has failed at least twice (its error, with its URL, is in /status).
    await waitFor(async () => {
      const s = await gw.status();
      return Object.values(s.sinks).every((k) => k.failed >= 2);
    }, { what: "every sink failing" });
    // A reload of a file with a mistake beside the secrets: an error line naming the problems.
    const file = `${gw.dir}/gateway.yml`;
    await Deno.writeTextFile(file, (await Deno.readTextFile(file)) + "bogus: 1\n");
    gw.child.kill("SIGHUP");
    await waitFor(async () => (await gw.status()).reload?.ok === false, { what: "reload refused" });
    for (const path of ["/status", "/", "/fragment", "/metrics", "/health"]) {
      found.push(...leaks(path, await (await fetch(`${gw.url}${path}`)).text()));
    }
    const s = await gw.status();
    // The errors are there, only masked: InfluxDB's names its URL.
    assert.match(JSON.stringify(s.sinks.influx.last_error), /gw:\*\*\*@/);
  } finally {
    logs = await gw.stop();
  }
  found.push(...leaks("the log", logs));
  // Every upstream down does not hold the stop (a Home Assistant sink once did, 20 s).
  assert.doesNotMatch(logs, /graceful stop took too long/);
  for (const level of ["info", "warn", "error"]) assert.match(logs, new RegExp(`level=${level}`));
  assert.deepEqual(found, []);
});
