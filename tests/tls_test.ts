/**
 * TLS to the servers that speak it here: mosquitto and redis-server with a
 * certificate from a CA made in the test. The gateway trusts that CA through
 * its config (`ca:`), and without it the connection is refused.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Agent } from "../src/agent.ts";
import { parseConfig } from "../src/config/load.ts";
import { gatewaySchema } from "../src/config/schema.ts";
import { configureLog } from "../src/log.ts";
import { startMosquitto, startRedis, waitFor } from "./helpers/servers.ts";
import { makeTestCa } from "./helpers/tls.ts";

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
    await waitFor(() => agent.health().components["mqtt.units"] === "up", { what: "subscribed" });
    assert.equal(agent.store.status.state, "up", "Redis over TLS");
    await pub.publishAsync("site/a", "21.5", { qos: 1 });
    await waitFor(async () => {
      const points = await agent.query({
        node: "a",
        from: Date.now() - 60_000,
        to: Date.now() + 1000,
      });
      return points.length === 1;
    }, { what: "the sample in Redis, over TLS both ways" });
    // Without the CA the server's certificate is not trusted: that source never connects.
    const untrusted = agent.status().sources.untrusted;
    assert.notEqual(untrusted.state, "up");
    assert.match(String(untrusted.last_error?.message), /certificate|unknown issuer|self.signed/i);
  } finally {
    await pub.endAsync();
    await agent.stop();
    await Promise.all([broker.stop(), redis.stop()]);
  }
});
