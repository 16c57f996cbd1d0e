import { isSecretKey, redact } from "./secrets.ts";

/** Log levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** Output format: `text` is key=value, `json` one object per line. */
export type LogFormat = "text" | "json";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
// journald maps `<N>` prefixes to priorities when stderr is not a terminal.
const JOURNAL: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };

const settings = { level: "info" as LogLevel, format: "text" as LogFormat, journald: false };

/** Sets the process-wide log level and format. */
export function configureLog(options: { level?: LogLevel; format?: LogFormat }): void {
  if (options.level) settings.level = options.level;
  if (options.format) settings.format = options.format;
  settings.journald = !!Deno.env.get("JOURNAL_STREAM") && !Deno.stderr.isTerminal();
}

/** A logger bound to a component name. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

function render(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return /[\s="]/.test(s ?? "") ? JSON.stringify(s) : String(s);
}

function write(level: LogLevel, component: string, msg: string, fields: Record<string, unknown>) {
  if (ORDER[level] < ORDER[settings.level]) return;
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    clean[k] = isSecretKey(k) || k.toLowerCase() === "authorization"
      ? "***"
      : v instanceof Error
      ? v.message
      : v;
  }
  let line: string;
  if (settings.format === "json") {
    line = JSON.stringify({ ts: new Date().toISOString(), level, component, msg, ...clean });
  } else {
    const kv = Object.entries(clean).map(([k, v]) => `${k}=${render(v)}`).join(" ");
    const head = settings.journald ? `<${JOURNAL[level]}>` : `${new Date().toISOString()} `;
    line = `${head}level=${level} component=${component} msg=${render(msg)}${kv ? " " + kv : ""}`;
  }
  // Every line, at every level: secrets of the config masked wherever they turn up.
  console.error(redact(line));
}

/** Creates a logger for one component (`agent`, `source.mppt1`, ...). */
export function createLogger(component: string): Logger {
  return {
    debug: (msg, f = {}) => write("debug", component, msg, f),
    info: (msg, f = {}) => write("info", component, msg, f),
    warn: (msg, f = {}) => write("warn", component, msg, f),
    error: (msg, f = {}) => write("error", component, msg, f),
    child: (name) => createLogger(`${component}.${name}`),
  };
}
