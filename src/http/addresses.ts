/**
 * Where a phone on the site's LAN finds the status page: the log's first lines
 * name it, so an owner who set `http.host: 0.0.0.0` need not look up the Pi's address.
 */

/** What a phone can type for `host` and `port`: loopback stays itself; 0.0.0.0 and :: list the LAN addresses. */
export function pageAddresses(
  host: string,
  port: number,
  interfaces: Deno.NetworkInterfaceInfo[] = localInterfaces(),
): string[] {
  const url = (a: string) => `http://${a.includes(":") ? `[${a}]` : a}:${port}/`;
  if (host !== "0.0.0.0" && host !== "::") return [url(host)];
  // 0.0.0.0 takes IPv4 only; :: takes both (dual stack). Link-local IPv6 needs a zone a
  // browser cannot be given, so it is left out.
  const lan = interfaces.filter((i) =>
    !i.address.startsWith("127.") && i.address !== "::1" &&
    (i.family === "IPv4" || (host === "::" && !i.address.startsWith("fe80:")))
  ).map((i) => url(i.address));
  return lan;
}

/** The machine's interfaces, or none when the process may not list them. */
function localInterfaces(): Deno.NetworkInterfaceInfo[] {
  try {
    return Deno.networkInterfaces();
  } catch {
    return [];
  }
}
