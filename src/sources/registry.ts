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
