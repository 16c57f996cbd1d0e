import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config/load.ts";
import { maskConfig } from "../../src/secrets.ts";
import { gatewaySchema } from "../../src/config/schema.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

function problems(yaml: string, vars: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, gatewaySchema, { env: env(vars) });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

Deno.test("an empty config is valid and gives the defaults", () => {
  const c = parseConfig("", gatewaySchema, { env: env({}) });
  assert.equal(c.http.host, "127.0.0.1");
  assert.equal(c.http.port, 8082);
  assert.equal(c.store.type, "embedded");
  assert.equal(c.outbox.on_full, "drop_oldest");
});

Deno.test("a section left out is the section written as {}: its defaults are written once", () => {
  const parse = (yaml: string) => parseConfig(yaml, gatewaySchema, { env: env({}) });
  const empty = parse("");
  for (const section of Object.keys(gatewaySchema.shape) as (keyof typeof empty)[]) {
    assert.deepEqual(parse(`${section}: {}`)[section], empty[section], section);
  }
  assert.equal(empty.gateway.stop_timeout, 20_000);
  assert.equal(empty.http.max_connections_per_client, 16);
  assert.equal(empty.events.check_every, 10_000);
});

Deno.test("a kafka sink without topics gets the same topics as one with topics: {}", () => {
  const sink = (extra: string) =>
    parseConfig(`sinks: {k: {type: kafka, brokers: ["127.0.0.1:9092"]${extra}}}`, gatewaySchema, {
      env: env({}),
    }).sinks.k as Record<string, unknown>;
  assert.deepEqual(sink("").topics, sink(", topics: {}").topics);
  assert.equal(
    (sink("").topics as { anomaly: string }).anomaly,
    "datalake.sensorDataAnomalyDetected",
  );
});

Deno.test("three mistakes give three errors, each naming its path", () => {
  const p = problems(`
http:
  port: "abc"
sinks:
  influx:
    type: influxdb
    url: http://127.0.0.1:8086
    database: gw
    batch_size: 0
sources:
  mppt1:
    type: vedirect
    simulate: mppt
    valdiate_checksum: false
`);
  assert.equal(p.length, 3, p.join("\n"));
  assert.ok(p.some((l) => l.startsWith('http.port: expected number, got "abc"')), p.join("\n"));
  assert.ok(p.some((l) => l.startsWith("sinks.influx.batch_size: must be >= 1")), p.join("\n"));
  assert.ok(
    p.some((l) => l.startsWith('sources.mppt1: unknown key "valdiate_checksum"')),
    p.join("\n"),
  );
});

Deno.test("an unknown source type names the known ones", () => {
  const p = problems("sources:\n  x:\n    type: serial\n");
  assert.equal(p.length, 1);
  assert.match(
    p[0],
    /^sources\.x\.type: unknown source type "serial" \(check the spelling\); known: /,
  );
});

Deno.test("a missing ${VAR} names the variable and the path", () => {
  const p = problems(
    "sinks:\n  i:\n    type: influxdb\n    url: http://x:8086\n    database: d\n    password: ${INFLUX_PASSWORD}\n",
  );
  assert.equal(p.length, 1);
  assert.match(p[0], /^sinks\.i\.password: environment variable INFLUX_PASSWORD is not set/);
});

Deno.test("${VAR} and ${VAR:-default} substitute, and a lone reference keeps its type", () => {
  const c = parseConfig(
    "http:\n  port: ${PORT}\n  host: ${HOST:-0.0.0.0}\ngateway:\n  id: site-${SITE}\n",
    gatewaySchema,
    { env: env({ PORT: "9000", SITE: "7" }) },
  );
  assert.equal(c.http.port, 9000);
  assert.equal(c.http.host, "0.0.0.0");
  assert.equal(c.gateway.id, "site-7");
});

Deno.test("a secret that looks like YAML stays a string", () => {
  const c = parseConfig(
    "sinks:\n  i:\n    type: influxdb\n    url: http://127.0.0.1:8086\n    database: d\n" +
      "    password: ${P}\n",
    gatewaySchema,
    { env: env({ P: "a: b # c" }) },
  );
  assert.equal(c.sinks.i.password, "a: b # c");
});

Deno.test("secrets are masked for display", () => {
  const masked = maskConfig({ http: { token: "t0k" }, sinks: { i: { password: "p", url: "u" } } });
  assert.deepEqual(masked, { http: { token: "***" }, sinks: { i: { password: "***", url: "u" } } });
});

Deno.test("invalid YAML is one clear error", () => {
  const p = problems("http: [unclosed");
  assert.equal(p.length, 1);
  assert.match(p[0], /^not valid YAML/);
  assert.doesNotMatch(p[0], /:$/, "no dangling colon");
  assert.match(problems("a: b: c")[0], /at line 1, column \d+$/);
});

Deno.test("an invalid URL shows the value; a wrong type from ${VAR} names the variable; secrets stay hidden", () => {
  const url = problems(`sinks:\n  i: {type: influxdb, url: "not a url", database: d}\n`);
  assert.match(url[0], /^sinks\.i\.url: .*, got "not a url"$/);
  const port = problems("http:\n  port: ${GATEWAY_HTTP_PORT}\n", { GATEWAY_HTTP_PORT: "eighty" });
  assert.deepEqual(port, [
    'http.port: expected number, got "eighty" (from ${GATEWAY_HTTP_PORT})',
  ]);
  const secret = problems("http:\n  token: ${TOKEN}\n", { TOKEN: "123456" });
  assert.equal(secret.length, 1);
  assert.match(secret[0], /^http\.token: expected string, got \(a secret, not shown\)$/);
  assert.doesNotMatch(secret[0], /123456/);
});

Deno.test("a token outside RFC 6750's bearer characters is refused at load, naming the path, hiding the value", () => {
  const bad = problems("http:\n  token: ${T}\n  read_token: ${R}\n", {
    T: "p@ss!word#1",
    R: "read token",
  });
  assert.equal(bad.length, 2, bad.join("\n"));
  assert.match(bad[0], /^http\.token: not a valid bearer token \(RFC 6750\): use only letters/);
  assert.match(bad[1], /^http\.read_token: not a valid bearer token/);
  assert.doesNotMatch(bad.join("\n"), /p@ss|read token/);
  const ok = parseConfig("http: {token: 'aZ09-._~+/tok==', read_token: ''}\n", gatewaySchema);
  assert.equal(ok.http.token, "aZ09-._~+/tok==");
});

Deno.test("a vedirect source needs exactly one of port or simulate", () => {
  const p = problems("sources:\n  a:\n    type: vedirect\n");
  assert.equal(p.length, 1);
  assert.match(p[0], /set exactly one of port/);
});

Deno.test("ack: commit with QoS 0 is refused: nothing would ever be acknowledged after a commit", () => {
  const p = problems(`
sources:
  units: {type: mqtt, url: "mqtt://127.0.0.1:1883", topics: [a/+], qos: 0, ack: commit}
`);
  assert.equal(p.length, 1, p.join("\n"));
  assert.match(p[0], /^sources\.units\.ack: ack: commit needs qos: 1 .*use ack: receipt/);
});

Deno.test("secrets come from files too: *_file beside the key, relative to $CREDENTIALS_DIRECTORY", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/influx`, "fr0m-a-file\n");
  await Deno.writeTextFile(`${dir}/token`, "t0ken-file");
  const c = parseConfig(
    `http: {token_file: ${dir}/token}
sinks:
  influx: {type: influxdb, url: "http://127.0.0.1:8086", database: d, password_file: influx}
`,
    gatewaySchema,
    { env: env({ CREDENTIALS_DIRECTORY: dir }) },
  );
  assert.equal(c.http.token, "t0ken-file");
  assert.equal(c.sinks.influx.password, "fr0m-a-file");
  const p = problems(`http: {token_file: /nonexistent/token}\n`);
  assert.equal(p.length, 1);
  assert.match(p[0], /^http\.token_file: cannot read the secret file \/nonexistent\/token/);
});

Deno.test("gateway.timezone: an IANA name; an unknown one is an error naming the path", () => {
  const c = parseConfig("gateway: {timezone: Europe/Berlin}", gatewaySchema, { env: env({}) });
  assert.equal(c.gateway.timezone, "Europe/Berlin");
  assert.equal(parseConfig("", gatewaySchema, { env: env({}) }).gateway.timezone, undefined);
  const p = problems("gateway: {timezone: Mars/Olympus_Mons}");
  assert.equal(p.length, 1, p.join("\n"));
  assert.match(p[0], /^gateway\.timezone: not a time zone this system knows: give an IANA name/);
});
