import { benchMqttInflux } from "./mqtt_influx_bench.ts";
await benchMqttInflux();
