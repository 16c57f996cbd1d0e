/**
 * The shape of the house: imports run one way (see docs/architecture.md), there
 * are no cycles between files or folders, no file grows past 350 lines, and every plugin folder carries a
 * sample config that its own schema accepts.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { parseConfig } from "../src/config/load.ts";
import { SINK_PLUGINS } from "../src/sinks/registry.ts";
import { SOURCE_PLUGINS } from "../src/sources/registry.ts";

const SRC = new URL("../src/", import.meta.url).pathname;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...files(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Relative imports of every source file, as paths relative to src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files(SRC)) {
    const text = Deno.readTextFileSync(file);
    const deps = [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)]
      .map((m) => relative(SRC, join(dirname(file), m[1])))
      .filter((dep) => !dep.startsWith("..")); // deno.json (the version) is outside src/
    graph.set(relative(SRC, file), deps);
  }
  return graph;
}

/** The layer of a file: its first folder under src/ (or the file itself at the top). */
function layer(path: string): string {
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : path.replace(/\.ts$/, "");
}

// Which layers each layer may import. Plugins (sources, sinks) sit above the core they use;
// util, model and errors sit below everything.
const BASE = [
  "util",
  "model",
  "errors",
  "status",
  "log",
  "config_values",
  "envelope_fields",
  "sample_time",
  "stamps",
  "payload",
  "plugin",
  "device_settings",
  "settings_line",
  "names",
  "secrets",
  "tls",
  "workers",
];
const ALLOWED: Record<string, string[]> = {
  util: ["util", "status"],
  model: [],
  errors: [],
  status: ["secrets"],
  log: ["secrets"],
  secrets: [],
  tls: [],
  config_values: [],
  envelope_fields: ["model", "util"],
  data_dir_lock: [],
  sample_time: ["config_values", "model"],
  stamps: ["util"],
  payload: ["model", "names"],
  names: [],
  plugin: ["config_values", "device_settings", "log", "model", "status", "util"],
  device_settings: [],
  settings_line: ["device_settings"],
  settings_audit: ["device_settings", "log", "model", "status", "util"],
  victron: [],
  // The schema gathers every plugin's schema: config sits above the plugins, which build
  // theirs from config_values.
  config: [...BASE, "config", "rules", "sinks", "sources"],
  images: [...BASE, "images"],
  policies: [...BASE, "policies", "images"],
  mqtt: [...BASE, "mqtt"],
  outbox: [...BASE, "outbox"],
  store: [...BASE, "config", "store"],
  rules: [...BASE, "rules"],
  sources: [...BASE, "sources", "policies", "images", "mqtt", "victron"],
  sinks: [...BASE, "sinks", "mqtt", "victron"],
  readings: ["model", "util"],
  pipeline: [...BASE, "outbox", "store", "rules", "readings"],
  status_report: ["status", "util"],
  scheduler: ["log", "status"],
  control: [
    ...BASE,
    "config",
    "host",
    "http",
    "outbox",
    "pipeline",
    "store",
    "status_report",
    "version",
  ],
  jobs: [...BASE, "config", "control", "outbox", "pipeline", "rules", "scheduler", "store"],
  // The Worker bridge (base): anyone with a Worker may use it.
  workers: ["errors", "log", "status", "util", "workers"],
  delivery: [...BASE, "delivery", "outbox", "sinks"],
  host: [...BASE, "config", "delivery", "outbox", "pipeline", "settings_audit", "sinks", "sources"],
  http: [...BASE, "config", "http", "outbox", "store", "sources", "sinks", "status_report"],
  cli: [...BASE, "cli", "sources"],
  systemd: [...BASE],
  version: [],
  permissions: ["config"],
  agent: [
    ...BASE,
    "config",
    "control",
    "data_dir_lock",
    "jobs",
    "host",
    "http",
    "outbox",
    "pipeline",
    "rules",
    "scheduler",
    "store",
    "version",
  ],
};

Deno.test("imports run one way between the folders of src/", () => {
  const wrong: string[] = [];
  for (const [file, deps] of importGraph()) {
    const from = layer(file);
    const allowed = ALLOWED[from];
    if (!allowed) {
      wrong.push(`${file}: folder "${from}" has no place in the layering (add it to ALLOWED)`);
      continue;
    }
    for (const dep of deps) {
      const to = layer(dep);
      if (to !== from && !allowed.includes(to)) wrong.push(`${file} imports ${dep}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("no import cycles in src/", () => {
  const graph = importGraph();
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      cycles.push([...stack.slice(stack.indexOf(f)), f].join(" -> "));
      return;
    }
    state.set(f, "open");
    stack.push(f);
    for (const d of graph.get(f) ?? []) visit(d);
    stack.pop();
    state.set(f, "done");
  };
  for (const f of graph.keys()) visit(f);
  assert.deepEqual(cycles, []);
});

Deno.test("no folder of src/ imports a folder that imports it back", () => {
  const edges = new Map<string, Set<string>>();
  for (const [file, deps] of importGraph()) {
    const from = layer(file);
    for (const dep of deps) {
      const to = layer(dep);
      if (to !== from) edges.set(from, (edges.get(from) ?? new Set()).add(to));
    }
  }
  const cycles: string[] = [];
  const reach = (from: string, to: string, seen = new Set<string>()): boolean => {
    if (from === to) return true;
    if (seen.has(from)) return false;
    seen.add(from);
    return [...edges.get(from) ?? []].some((next) => reach(next, to, seen));
  };
  for (const [from, tos] of edges) {
    for (const to of tos) if (reach(to, from)) cycles.push(`${from} -> ${to} -> ... -> ${from}`);
  }
  assert.deepEqual(cycles, []);
});

Deno.test("no source file is over 350 lines", () => {
  const long = files(SRC)
    .map((f) => [relative(SRC, f), Deno.readTextFileSync(f).split("\n").length] as const)
    .filter(([, n]) => n > 350);
  assert.deepEqual(long, []);
});

Deno.test("every plugin folder has a sample.yml its schema accepts", async () => {
  for (const [kind, plugins] of [["sources", SOURCE_PLUGINS], ["sinks", SINK_PLUGINS]] as const) {
    for (const plugin of plugins) {
      const path = `${SRC}${kind}/${plugin.type}/sample.yml`;
      const text = await Deno.readTextFile(path).catch(() => null);
      assert.ok(text, `${kind}/${plugin.type}/sample.yml is missing`);
      // A sample is a config fragment for one component; ${VAR} references get stand-ins.
      const parsed = parseConfig(text, plugin.schema, {
        file: path,
        env: (name) => `sample-${name.toLowerCase()}`,
      });
      assert.equal((parsed as { type: string }).type, plugin.type);
    }
  }
});
