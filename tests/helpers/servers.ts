/**
 * Real servers the tests start on free loopback ports in temp dirs, one file each;
 * this module gathers them so a test imports from one place.
 */
export { fetchWith, freePort, Server, waitFor } from "./server.ts";
export { startRedis } from "./redis_server.ts";
export { HA_WRITES_ACL, startMosquitto, VENUS_WRITES_ACL } from "./mosquitto.ts";
export { influxQuery, startInfluxd } from "./influxd.ts";
export { clickhouseQuery, startClickHouse } from "./clickhouse.ts";
export { objectKeys, readObject, s3rverClient, startS3rver } from "./s3rver.ts";
