/** The HTTP API built from the `http` section of the config and started. */
import type { GatewayConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { createApp } from "./app.ts";
import type { GatewayView } from "./view.ts";
import { HttpServer } from "./server.ts";
import { pageAddresses } from "./addresses.ts";

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/** Builds the app on `view`, listens where `http` says, and logs the status page's address. */
export function serveApi(
  view: GatewayView,
  http: GatewayConfig["http"],
  options: { socketDir: string; log: Logger },
): HttpServer {
  const app = createApp(view, {
    token: http.token,
    readToken: http.read_token,
    maxBody: http.max_body,
    ranges: http.ranges as Record<string, [number, number]>,
    maxFuture: http.max_future,
  });
  const server = new HttpServer(app.fetch, {
    hostname: http.host,
    port: http.port,
    socketDir: options.socketDir,
    maxConnections: http.max_connections,
    maxPerClient: http.max_connections_per_client,
    tokens: [http.token, http.read_token].filter((t): t is string => !!t),
    idleTimeout: http.idle_timeout,
    headerTimeout: http.header_timeout,
    log: options.log,
  });
  server.start();
  // The first thing a new user looks for in the start-up log; on 0.0.0.0, where a phone finds it.
  const port = server.address?.port ?? http.port;
  const lan = pageAddresses(http.host, port);
  const token = http.read_token ? " (add ?token=<http.read_token> on a phone)" : "";
  if (http.host === "0.0.0.0" || http.host === "::") {
    for (const url of lan) options.log.info(`status page: ${url}${token}`);
    if (lan.length === 0) {
      options.log.info(`status page: http://<this machine's address>:${port}/${token}`);
    }
    options.log.info(`status page here: http://127.0.0.1:${port}/`);
  } else options.log.info(`status page: ${lan[0]}${token}`);
  if (!isLoopback(http.host) && !http.read_token) {
    options.log.warn(
      `the status page and API on ${http.host} are open to anyone on the network: ` +
        "set http.read_token (GATEWAY_READ_TOKEN in the demo config) to ask for a token",
    );
  }
  return server;
}
