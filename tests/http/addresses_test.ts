/** Where the log says a phone finds the page (http.host 0.0.0.0 or ::). */
import assert from "node:assert/strict";
import { pageAddresses } from "../../src/http/addresses.ts";

const iface = (family: "IPv4" | "IPv6", address: string): Deno.NetworkInterfaceInfo => ({
  family,
  name: "eth0",
  address,
  netmask: "",
  scopeid: null,
  cidr: "",
  mac: "",
});
const PI = [
  iface("IPv4", "127.0.0.1"),
  iface("IPv4", "192.168.1.20"),
  iface("IPv4", "10.8.0.3"),
  iface("IPv6", "::1"),
  iface("IPv6", "fd00::20"),
  iface("IPv6", "fe80::1"),
];

Deno.test("a loopback or named host is itself; 0.0.0.0 lists the LAN's IPv4 addresses", () => {
  assert.deepEqual(pageAddresses("127.0.0.1", 8082, PI), ["http://127.0.0.1:8082/"]);
  assert.deepEqual(pageAddresses("192.168.1.20", 80, PI), ["http://192.168.1.20:80/"]);
  assert.deepEqual(pageAddresses("0.0.0.0", 8082, PI), [
    "http://192.168.1.20:8082/",
    "http://10.8.0.3:8082/",
  ]);
});

Deno.test(":: lists IPv6 in brackets too, but no link-local address (a browser cannot use it)", () => {
  assert.deepEqual(pageAddresses("::", 8082, PI), [
    "http://192.168.1.20:8082/",
    "http://10.8.0.3:8082/",
    "http://[fd00::20]:8082/",
  ]);
  assert.deepEqual(pageAddresses("0.0.0.0", 8082, [iface("IPv4", "127.0.0.1")]), []);
});
