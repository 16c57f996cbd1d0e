import meta from "../deno.json" with { type: "json" };

/** The gateway's version, from deno.json. */
export const VERSION: string = meta.version;

/**
 * The commit the binary was built from: the COMMIT file the compile task
 * writes and embeds, else EDGE_GATEWAY_COMMIT, else "unknown".
 */
export function commit(): string {
  try {
    return Deno.readTextFileSync(new URL("../COMMIT", import.meta.url)).trim();
  } catch {
    // not a compiled binary
  }
  try {
    return Deno.env.get("EDGE_GATEWAY_COMMIT") ?? "unknown";
  } catch {
    return "unknown";
  }
}
