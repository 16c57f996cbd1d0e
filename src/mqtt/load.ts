/**
 * mqtt.js, loaded once, with its packet codec's disabled traces made free.
 *
 * mqtt-packet calls `debug(...)` several times per packet; a disabled `debug`
 * still builds its rest-argument array on every call: 19% of what the gateway
 * allocated per message under a burst (1.8 of 9.5 KB, sampling heap profile).
 * npm `overrides` would swap the package, but Deno honours them only with a
 * node_modules dir, so the swap happens where CommonJS loads it: mqtt.js and
 * mqtt-packet get a no-op `debug` unless the operator turned tracing on with
 * DEBUG (the variable `debug` itself reads).
 */
import Module from "node:module";

type Load = (request: string, parent: { filename?: string } | null, isMain: boolean) => unknown;

/** The packages whose `require("debug")` gets the no-op. */
const QUIET = /[\\/](mqtt|mqtt-packet)[\\/]/;

/** What `require("debug")` returns there: a factory of loggers that do nothing. */
function quietDebug(namespace: string) {
  const log = Object.assign(() => {}, {
    enabled: false,
    namespace,
    extend: (more: string) => quietDebug(`${namespace}:${more}`),
    destroy: () => true,
    log: () => {},
  });
  return log;
}

function tracingAsked(): boolean {
  try {
    return Boolean(Deno.env.get("DEBUG"));
  } catch {
    return false; // no permission to read it: nobody can have asked through it
  }
}

function installQuietDebug(): void {
  if (tracingAsked()) return;
  const loader = Module as unknown as { _load?: Load };
  const load = loader._load;
  if (typeof load !== "function") return; // a runtime without the hook: traces stay, nothing breaks
  loader._load = function (request, parent, isMain) {
    if (request === "debug" && QUIET.test(parent?.filename ?? "")) return quietDebug;
    return load.call(this, request, parent, isMain);
  };
}

let loading: Promise<typeof import("mqtt")> | null = null;

/** mqtt.js (~35 MiB resident), imported on first use only. */
export function loadMqtt(): Promise<typeof import("mqtt")> {
  if (!loading) {
    installQuietDebug();
    loading = import("mqtt");
  }
  return loading;
}
