import meta from "../deno.json" with { type: "json" };

/** The gateway's version, from deno.json. */
export const VERSION: string = meta.version;

/** The commit the binary was built from (set at compile time through EDGE_GATEWAY_COMMIT). */
export function commit(): string {
  try {
    return Deno.env.get("EDGE_GATEWAY_COMMIT") ?? "unknown";
  } catch {
    return "unknown";
  }
}
