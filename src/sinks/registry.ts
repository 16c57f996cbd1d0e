import { clickhouseSink } from "./clickhouse/mod.ts";
import { dataserviceIpcSink } from "./dataservice_ipc/mod.ts";
import { homeassistantSink } from "./homeassistant/mod.ts";
import { influxdbSink } from "./influxdb/mod.ts";
import { kafkaSink } from "./kafka/mod.ts";
import { mqttSink } from "./mqtt/mod.ts";
import { postgresSink } from "./postgres/mod.ts";
import { s3Sink } from "./s3/mod.ts";
import type { SinkPlugin } from "../plugin.ts";
import { venusSink } from "./venus/mod.ts";
import { webhookSink } from "./webhook/mod.ts";

/** Every sink kind the gateway knows; adding one is one line here. */
export const SINK_PLUGINS: SinkPlugin[] = [
  influxdbSink,
  mqttSink,
  venusSink,
  homeassistantSink,
  dataserviceIpcSink,
  webhookSink,
  clickhouseSink,
  s3Sink,
  postgresSink,
  kafkaSink,
];

const BY_TYPE = new Map(SINK_PLUGINS.map((p) => [p.type, p]));

/** The sink plugin of a config's `type`; undefined for a kind the gateway does not know. */
export function sinkPlugin(type: string | undefined): SinkPlugin | undefined {
  return type === undefined ? undefined : BY_TYPE.get(type);
}
