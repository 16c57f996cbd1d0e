/**
 * Runs a hostile upstream (`hostile_upstream.ts`) in its own process:
 * `hostile_upstream_main.ts '{"mode", "target", "other"}'`. Prints `{"port", "control"}` once it
 * listens; the control port answers `GET /state` and `POST /mode/<mode>`.
 */
import { type HostileMode, serveHostile } from "./hostile_upstream.ts";

const up = serveHostile(JSON.parse(Deno.args[0]));
const control = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
  const path = new URL(req.url).pathname;
  if (req.method === "POST" && path.startsWith("/mode/")) {
    up.setMode(path.slice("/mode/".length) as HostileMode);
    return new Response(null, { status: 204 });
  }
  const { mode, answered, loginRequests, largest } = up;
  return Response.json({ mode, answered, loginRequests, largest });
});
Deno.addSignalListener("SIGTERM", () => {
  control.shutdown();
  up.close().finally(() => Deno.exit(0));
});
console.log(JSON.stringify({ port: up.port, control: control.addr.port }));
