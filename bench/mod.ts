/** Benchmarks: `deno task bench`. Prints figures with the machine and sizes; asserts nothing. */
import { benchFlash } from "./flash_bench.ts";
import { benchGateway } from "./gateway_bench.ts";
import { benchImages } from "./images_bench.ts";
import { benchMqtt } from "./mqtt_bench.ts";
import { benchMqttInflux } from "./mqtt_influx_bench.ts";
import { benchOutbox } from "./outbox_bench.ts";
import { benchPolicies } from "./policies_bench.ts";
import { benchStore } from "./store_bench.ts";
import { printSummary } from "./summary.ts";
import { machine } from "./util.ts";
import { benchVedirect } from "./vedirect_bench.ts";

console.log(`machine: ${machine()}`);
await benchVedirect();
await benchStore();
await benchOutbox();
await benchMqtt();
await benchMqttInflux();
await benchPolicies();
await benchImages();
await benchGateway();
await benchFlash();
printSummary();
