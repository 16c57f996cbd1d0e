import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { isSecretKey } from "../secrets.ts";

/** A configuration problem, carrying every error found (each names its path). */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`invalid config ${file}:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed YAML
 * tree. A string that is a single reference is re-read as a YAML scalar, so
 * `port: ${PORT}` becomes a number. Missing variables are reported by path.
 */
export function substituteEnv(
  tree: unknown,
  options: {
    env: (name: string) => string | undefined;
    problems: string[];
    path?: string;
    /** Filled with the variables each substituted string came from, by dotted path. */
    origins?: Map<string, string[]>;
  },
): unknown {
  const path = options.path ?? "";
  if (typeof tree === "string") {
    let missing = false;
    const names: string[] = [];
    const out = tree.replace(REF, (_, name: string, fallback?: string) => {
      names.push(name);
      const value = options.env(name);
      if (value !== undefined && value !== "") return value;
      if (fallback !== undefined) return fallback;
      missing = true;
      options.problems.push(
        `${path || "(root)"}: environment variable ${name} is not set; ` +
          `export it or write \${${name}:-default}`,
      );
      return "";
    });
    if (names.length > 0) options.origins?.set(path, names);
    if (missing) return out;
    if (!/^\$\{[^}]+\}$/.test(tree) || out === "") return out;
    // A lone reference may stand for a number or a boolean; anything else stays text.
    try {
      const scalar = parseYaml(out);
      return typeof scalar === "number" || typeof scalar === "boolean" ? scalar : out;
    } catch {
      return out;
    }
  }
  if (Array.isArray(tree)) {
    return tree.map((v, i) => substituteEnv(v, { ...options, path: `${path}.${i}` }));
  }
  if (tree && typeof tree === "object") {
    return Object.fromEntries(
      Object.entries(tree).map((
        [k, v],
      ) => [k, substituteEnv(v, { ...options, path: path ? `${path}.${k}` : k })]),
    );
  }
  return tree;
}

/**
 * Secrets from files: `password_file: influx` beside (instead of) `password:` reads the file
 * (trailing newline dropped). A relative path is looked up in `$CREDENTIALS_DIRECTORY`, where
 * systemd's `LoadCredential=` puts them. Only keys that name a secret take a `_file` form.
 */
export function readSecretFiles(
  tree: unknown,
  options: { env: (name: string) => string | undefined; problems: string[]; path?: string },
): unknown {
  const path = options.path ?? "";
  if (Array.isArray(tree)) {
    return tree.map((v, i) => readSecretFiles(v, { ...options, path: `${path}[${i}]` }));
  }
  if (!tree || typeof tree !== "object") return tree;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tree)) {
    const at = path ? `${path}.${k}` : k;
    const key = k.endsWith("_file") ? k.slice(0, -5) : null;
    if (key && isSecretKey(key) && typeof v === "string") {
      const dir = options.env("CREDENTIALS_DIRECTORY");
      const file = v.startsWith("/") || !dir ? v : `${dir}/${v}`;
      try {
        out[key] = Deno.readTextFileSync(file).replace(/\r?\n$/, "");
      } catch (e) {
        options.problems.push(
          `${at}: cannot read the secret file ${file}: ${(e as Error).message}`,
        );
      }
      continue;
    }
    out[k] = readSecretFiles(v, { ...options, path: at });
  }
  return out;
}

/** Where a value came from, when the environment gave it: ` (from $VAR)`. */
function origin(path: string, origins?: Map<string, string[]>): string {
  const names = origins?.get(path);
  return names ? ` (from ${names.map((n) => `\${${n}}`).join(", ")})` : "";
}

/**
 * Turns zod issues into one line each: `sinks.influx.batch_size: expected number, got "abc"`;
 * a value that came from `${VAR}` names the variable, a secret's value is never shown.
 */
export function formatIssues(
  issues: z.core.$ZodIssue[],
  options: { origins?: Map<string, string[]> } = {},
): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join(".") || "(root)";
    const input = (issue as { input?: unknown }).input;
    const last = issue.path.at(-1);
    const secret = typeof last === "string" && isSecretKey(last);
    const describe = (value: unknown): string => {
      if (value === undefined) return "nothing";
      if (secret) return "(a secret, not shown)";
      const s = JSON.stringify(value);
      return (s.length > 60 ? s.slice(0, 57) + "..." : s) + origin(path, options.origins);
    };
    switch (issue.code) {
      case "invalid_type":
        return input === undefined
          ? `${path}: required ${issue.expected} is missing`
          : `${path}: expected ${issue.expected}, got ${describe(input)}`;
      case "unrecognized_keys":
        return `${path}: unknown key${issue.keys.length > 1 ? "s" : ""} ${
          issue.keys.map((k) => `"${k}"`).join(", ")
        } (check the spelling)`;
      case "too_small":
        return `${path}: must be ${issue.inclusive ? ">=" : ">"} ${issue.minimum}, got ${
          describe(input)
        }`;
      case "too_big":
        return `${path}: must be ${issue.inclusive ? "<=" : "<"} ${issue.maximum}, got ${
          describe(input)
        }`;
      case "invalid_value":
        return `${path}: expected one of ${
          issue.values.map((v) => JSON.stringify(v)).join(", ")
        }, got ${describe(input)}`;
      case "invalid_union": {
        return `${path}: ${issue.message}, got ${describe(input)}`;
      }
      case "invalid_format":
        // "Invalid URL" alone does not say which value: show it.
        return `${path}: ${issue.message}, got ${describe(input)}`;
      default:
        return `${path}: ${issue.message}`;
    }
  });
}

/** Parses YAML text, substitutes the environment and validates with `schema`; throws ConfigError. */
export function parseConfig<S extends z.ZodType>(
  text: string,
  schema: S,
  options: { file?: string; env?: (name: string) => string | undefined } = {},
): z.output<S> {
  const file = options.file ?? "(inline)";
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (e) {
    // The parser's first line ends in ":" before a code excerpt; the position is all we keep.
    const first = (e as Error).message.split("\n")[0].replace(/:\s*$/, "");
    throw new ConfigError(file, [`not valid YAML: ${first}`]);
  }
  const problems: string[] = [];
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const origins = new Map<string, string[]>();
  const substituted = readSecretFiles(substituteEnv(raw, { env, problems, origins }), {
    env,
    problems,
  });
  const result = schema.safeParse(substituted, { reportInput: true });
  if (!result.success) problems.push(...formatIssues(result.error.issues, { origins }));
  if (problems.length > 0) throw new ConfigError(file, problems);
  return result.data as z.output<S>;
}

/** Reads and parses a config file; a missing file is a ConfigError, not a stack trace. */
export async function loadConfigFile<S extends z.ZodType>(
  file: string,
  schema: S,
): Promise<z.output<S>> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ConfigError(file, [`cannot read the file: ${(e as Error).message}`]);
  }
  return parseConfig(text, schema, { file });
}
