/** A webhook that keeps what the gateway posts to it: the audit events of the settings tests. */

/** The events posted so far (each flat: {type, gateway, ...data}), and where to post them. */
export interface AuditHook {
  events: Record<string, unknown>[];
  url: string;
  port: number;
  shutdown(): Promise<void>;
}

/** Starts the webhook on a free port of 127.0.0.1. */
export function startAuditHook(): AuditHook {
  const events: Record<string, unknown>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    events.push(...(Array.isArray(body) ? body : [body])); // a webhook in `batch` mode posts arrays
    return new Response(null, { status: 204 });
  });
  const port = (server.addr as Deno.NetAddr).port;
  return { events, url: `http://127.0.0.1:${port}/`, port, shutdown: () => server.shutdown() };
}
