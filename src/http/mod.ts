/** The HTTP API built from the `http` section of the config and started. */
import type { GatewayConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { createApp } from "./app.ts";
import type { GatewayView } from "./view.ts";
import { HttpServer } from "./server.ts";

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
  // The first thing a new user looks for in the start-up log.
  options.log.info(`status page: http://${http.host}:${server.address?.port}/`);
  return server;
}
