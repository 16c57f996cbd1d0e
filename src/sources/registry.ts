import { dataserviceSource } from "./dataservice/mod.ts";
import { hmapSource } from "./hmap/mod.ts";
import { mqttSource } from "./mqtt/mod.ts";
import { redisKeysSource } from "./redis_keys/mod.ts";
import type { SourcePlugin } from "../plugin.ts";
import { vedirectSource } from "./vedirect/mod.ts";

/** Every source kind the gateway knows; adding one is one line here. */
export const SOURCE_PLUGINS: SourcePlugin[] = [
  vedirectSource,
  dataserviceSource,
  redisKeysSource,
  mqttSource,
  hmapSource,
];

const BY_TYPE = new Map(SOURCE_PLUGINS.map((p) => [p.type, p]));

/** The source plugin of a config's `type`; undefined for a kind the gateway does not know. */
export function sourcePlugin(type: string | undefined): SourcePlugin | undefined {
  return type === undefined ? undefined : BY_TYPE.get(type);
}
