/**
 * Names from outside never become paths: the topic `cams/../img` makes the node
 * `..`, whose frames used to land in `<data_dir>/frames` (and `building/` was
 * made and deleted beside it) and whose objects got keys starting with `../`.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { configureLog } from "../../src/log.ts";
import { jpegFrames } from "../helpers/frames.ts";
import {
  objectKeys,
  s3rverClient,
  startMosquitto,
  startS3rver,
  waitFor,
} from "../helpers/servers.ts";

configureLog({ level: "error" });

Deno.test("the node `..` from a topic stays inside its directory and its key prefix; bad node names are counted", async () => {
  const broker = await startMosquitto();
  const s3 = await startS3rver();
  const dir = await Deno.makeTempDir({ prefix: "names-" });
  const data = `${dir}/data`;
  const agent = new Agent(parseConfig(
    `gateway: {id: names, data_dir: ${data}}
http: {enabled: false}
sources:
  cams:
    type: mqtt
    url: mqtt://127.0.0.1:${broker.port}
    topics: ["cams/+/img"]
    client_id: names
    max_size: 1MiB
    policies:
      default:
        image_policy: {format: jpeg, width: 160, height: 120, timelapse: {frames: 1000}}
        file_policy: {prefix: "cams/"}
sinks:
  s3: {type: s3, url: "http://127.0.0.1:${s3.port}", bucket: cam-frames, access_key: S3RVER, secret_key: S3RVER, max_wait: 20ms}
`,
    gatewaySchema,
  ));
  await agent.start();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  try {
    const [frame] = await jpegFrames(1);
    await pub.publishAsync("cams/../img", frame as unknown as string, { qos: 1 });
    await pub.publishAsync("cams/./img", frame as unknown as string, { qos: 1 });
    await pub.publishAsync(`cams/${"x".repeat(1024)}/img`, frame as unknown as string, { qos: 1 });
    const client = s3rverClient(s3.port);
    await waitFor(async () => (await objectKeys(client, "cam-frames")).length === 2, {
      what: "the frames of `..` and `.` in S3",
    });
    const keys = await objectKeys(client, "cam-frames");
    for (const key of keys) {
      assert.match(key, /^cams\/~2E(~2E)?\/all\/\d+\.jpg$/, key);
    }
    // On disk: only the source's own folder, holding one encoded folder per node (beside
    // the databases and the data dir's lock).
    assert.deepEqual(
      [...Deno.readDirSync(data)].map((e) => e.name).filter((n) => !/\.db/.test(n)).sort(),
      ["gateway.lock", "timelapse-cams"],
    );
    const nodes = [...Deno.readDirSync(`${data}/timelapse-cams`)].map((e) => e.name).sort();
    assert.deepEqual(nodes, ["~2E", "~2E~2E"]);
    assert.equal(agent.control.status().sources.cams.dropped.bad_node_name, 1, "the 1 KB node id");
  } finally {
    await pub.endAsync();
    await agent.stop();
    await Promise.all([broker.stop(), s3.stop()]);
  }
});
