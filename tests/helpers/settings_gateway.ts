/**
 * A gateway whose HTTP API takes a token and whose audit events go to a webhook
 * ({@link startAuditHook}): the set-up of the settings API tests.
 */
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config/load.ts";
import { gatewaySchema } from "../../src/config/schema.ts";
import { startAuditHook } from "./audit_hook.ts";
import { freePort, waitFor } from "./servers.ts";

/**
 * Starts a gateway with `sources` (YAML lines under `sources:`; one of them `mppt1`) and resolves
 * once mppt1 has processed two frames; `http` adds keys to the `http:` flow mapping.
 */
export async function startSettingsGateway(
  sources: string,
  options: { token: string; http?: string },
) {
  const hook = startAuditHook();
  const dir = await Deno.makeTempDir({ prefix: "settings-gateway-" });
  const port = freePort();
  const httpExtra = options.http ? `, ${options.http}` : "";
  const agent = new Agent(parseConfig(
    `gateway: {id: site, data_dir: ${dir}}
http: {port: ${port}, token: ${options.token}${httpExtra}}
sources:
${sources}
sinks:
  hook: {type: webhook, url: "${hook.url}", forward: [event], max_wait: 10ms}
`,
    gatewaySchema,
  ));
  const dispose = async () => {
    await agent.stop();
    await hook.shutdown();
  };
  try {
    await agent.start();
    await waitFor(() => agent.sources.get("mppt1")!.status.processed >= 2, { what: "frames" });
  } catch (e) {
    await dispose();
    throw e;
  }
  const url = `http://127.0.0.1:${port}`;
  /** PUTs `body` as JSON to `path` with `token` (none: null); the answer's status and body. */
  const put = async (path: string, body: unknown, token: string | null = options.token) => {
    const res = await fetch(`${url}${path}`, {
      method: "PUT",
      headers: {
        "Content-Type": "application/json",
        "User-Agent": "settings-test",
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  return {
    agent,
    url,
    /** Every event the webhook received, in order. */
    events: hook.events,
    put,
    [Symbol.asyncDispose]: dispose,
  };
}
