/** Whether this process may start Workers of its own modules. */

/** The folder of the modules a Worker loads (`src/`). */
const SOURCE_ROOT = new URL("../", import.meta.url);

/**
 * Whether this process may start Workers: Deno asks for read permission on the modules a Worker
 * loads (a service whose flags do not grant it keeps its sinks and MQTT connections on the main
 * thread).
 */
export function workersAllowed(): boolean {
  try {
    const path = decodeURIComponent(SOURCE_ROOT.pathname);
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}
