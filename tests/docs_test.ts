/**
 * The docs where they name code: docs/configuration.md's table against the
 * schema (every key there exists, its default is the schema's, every key of the
 * schema has a row), docs/architecture.md's file map and base modules against
 * the tree, the plugin contract wherever the docs describe it, and every
 * relative link of the docs pointing at a file (and heading) that exists. A
 * failure says which line to fix and how.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { displayConfig } from "../src/config/display.ts";
import { gatewaySchema } from "../src/config/schema.ts";
import { sameValue } from "../src/util/same_value.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** Where the configuration table lives. */
const CONFIG_DOC = "docs/configuration.md";
const CONFIG_TEXT = Deno.readTextFileSync(`${ROOT}${CONFIG_DOC}`);

type Def = {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
};
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;
const WRAPPERS = ["default", "prefault", "optional", "nullable", "readonly", "catch"];

/** The schema under its defaults and optionals. */
function bare(s: z.ZodType): z.ZodType {
  const def = defOf(s);
  return WRAPPERS.includes(def.type) ? bare(def.innerType!) : s;
}

/** The same, and a transform's input for a pipe: what shape the value has. */
function unwrap(s: z.ZodType): z.ZodType {
  const def = defOf(bare(s));
  if (def.type === "pipe") return unwrap(defOf(def.out!).type === "transform" ? def.in! : def.out!);
  return bare(s);
}

/** A key's default as a user writes it (`20s`, `1MiB`), or undefined. */
function schemaDefault(field: z.ZodType): string | undefined {
  const got = field.safeParse(undefined);
  return got.success && got.data !== undefined
    ? written(displayConfig(field, got.data))
    : undefined;
}

/** A value as the table writes it: `20s`, `./data`, `[]`. */
function written(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return `\`${text}\``;
}

/** The schema of a dotted key; `<name>` steps into a map (sources.<name>). */
function fieldAt(path: string[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = gatewaySchema;
  for (const step of path) {
    const def = defOf(unwrap(s!));
    if (def.type === "record" && step === "<name>") return s;
    s = def.type === "object" ? def.shape?.[step] : undefined;
    if (!s) return undefined;
  }
  return s;
}

/** Every key of the schema: object sections are walked, maps and lists are one key. */
function schemaKeys(s: z.ZodType = gatewaySchema, prefix: string[] = []): string[][] {
  const def = defOf(unwrap(s));
  if (def.type !== "object") return [prefix];
  return Object.entries(def.shape!).flatMap(([k, v]) => schemaKeys(v, [...prefix, k]));
}

/** A table cell's parts: split at ` / `, ` x ` and `, ` outside backticks. */
function cellParts(cell: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < cell.length; i++) {
    if (cell[i] === "`") quoted = !quoted;
    const sep = quoted ? undefined : [" / ", " x ", ", "].find((s) => cell.startsWith(s, i));
    if (sep) {
      parts.push(current.trim());
      current = "";
      i += sep.length - 1;
    } else current += cell[i];
  }
  return [...parts, current.trim()].filter((p) => p !== "");
}

/** `a.{b,c}` -> `a.b`, `a.c`. */
function expand(name: string): string[] {
  const m = /^(.*)\{([^}]*)\}(.*)$/.exec(name);
  return m ? m[2].split(",").map((b) => `${m[1]}${b.trim()}${m[3]}`) : [name];
}

interface Row {
  line: number;
  keys: string[][];
  /** The Default column's literal per key (`undefined`: said in words, not checked). */
  defaults: (string | undefined)[];
}

/** The rows of the configuration table (docs/configuration.md). */
function configTable(): Row[] {
  const lines = CONFIG_TEXT.split("\n");
  const head = lines.findIndex((l) => /^\|\s*Key\s*\|\s*Default\s*\|/.test(l));
  assert.ok(head > 0, `${CONFIG_DOC}: no table with a \`| Key | Default | Meaning |\` header`);
  const rows: Row[] = [];
  for (let i = head + 2; i < lines.length && lines[i].startsWith("|"); i++) {
    const [keyCell, defaultCell] = lines[i].split(/(?<!\\)\|/).slice(1).map((c) => c.trim());
    const keys: string[][] = [];
    let parent: string[] = [];
    for (const part of cellParts(keyCell)) {
      for (const name of [...part.matchAll(/`([^`]+)`/g)].flatMap((m) => expand(m[1]))) {
        const path = name.split(".");
        // A name without its section (`header_timeout`) sits beside the previous one.
        const key = name.includes(".") ? path : [...parent, ...path];
        keys.push(key);
        parent = key.slice(0, -1);
      }
    }
    const defaults = cellParts(defaultCell).map((p) => /^`([^`]*)`/.exec(p)?.[1]);
    rows.push({ line: i + 1, keys, defaults });
  }
  return rows;
}

Deno.test("every key in the configuration table is in the schema", () => {
  const unknown = configTable().flatMap((row) =>
    row.keys.filter((k) => !fieldAt(k)).map((k) =>
      `${CONFIG_DOC}:${row.line}: \`${k.join(".")}\` is not a key of the config schema ` +
      `(src/config/schema.ts and the schemas it gathers): rename or remove it`
    )
  );
  assert.deepEqual(unknown, []);
});

Deno.test("every default in the configuration table is the schema's", () => {
  const wrong: string[] = [];
  for (const row of configTable()) {
    row.keys.forEach((key, i) => {
      const literal = row.defaults[i];
      const field = fieldAt(key);
      if (literal === undefined || !field || key.includes("<name>")) return;
      const actual = field.safeParse(undefined);
      const written = bare(field).safeParse(parseYaml(literal === "" ? '""' : literal));
      if (!actual.success || !written.success || !sameValue(written.data, actual.data)) {
        wrong.push(
          `${CONFIG_DOC}:${row.line}: \`${
            key.join(".")
          }\` says default \`${literal}\`, the schema ` +
            `gives ${schemaDefault(field) ?? "none"}: fix the row`,
        );
      }
    });
  }
  assert.deepEqual(wrong, []);
});

Deno.test("every key of the config schema has a row in the configuration table", () => {
  const named = new Set(
    configTable().flatMap((r) => r.keys).map((k) => k.filter((s) => s !== "<name>").join(".")),
  );
  // A row for a block (`store.redis.leader`) covers the keys inside it.
  const covered = (key: string[]) => key.some((_, i) => named.has(key.slice(0, i + 1).join(".")));
  const missing = schemaKeys().filter((k) => !covered(k)).map((k) => {
    const shown = schemaDefault(fieldAt(k)!) ?? "none";
    return `\`${k.join(".")}\` (default ${shown}) is missing from ${CONFIG_DOC}'s configuration ` +
      `table: add the row | \`${k.join(".")}\` | ${shown} | <what it does> |`;
  });
  assert.deepEqual(missing, []);
});

const ARCHITECTURE = Deno.readTextFileSync(`${ROOT}docs/architecture.md`);

interface MapEntry {
  path: string;
  text: string;
}

/** The file map: the first code block of docs/architecture.md, a path then what it holds. */
function fileMap(): MapEntry[] {
  const block = /^```\n([\s\S]*?)^```/m.exec(ARCHITECTURE);
  assert.ok(block, "docs/architecture.md: no file map (a ``` block) found");
  const entries: MapEntry[] = [];
  for (const line of block[1].split("\n")) {
    if (/^\S/.test(line)) {
      const [path] = line.split(/\s/, 1);
      entries.push({ path, text: line.slice(path.length) });
    } else if (entries.length > 0) entries.at(-1)!.text += ` ${line.trim()}`;
  }
  return entries;
}

const exists = (path: string) => {
  try {
    Deno.statSync(`${ROOT}${path}`);
    return true;
  } catch {
    return false;
  }
};

/** `src/sinks/<kind>/` -> every plugin folder, other paths as they are. */
function concrete(path: string): string[] {
  const at = path.indexOf("<kind>/");
  if (at < 0) return [path];
  const parent = path.slice(0, at);
  return [...Deno.readDirSync(`${ROOT}${parent}`)].filter((e) => e.isDirectory)
    .map((e) => `${parent}${e.name}/${path.slice(at + "<kind>/".length)}`);
}

Deno.test("every file and folder docs/architecture.md's file map names exists", () => {
  const missing: string[] = [];
  for (const { path, text } of fileMap()) {
    const places = concrete(path).filter(exists);
    if (places.length === 0) {
      missing.push(`${path} (a line of the map; the tree has no such path: fix or remove it)`);
      continue;
    }
    // A file named in the text lives in the entry's folder or a folder above it.
    for (const [name] of text.matchAll(/[\w./-]+\.ts\b/g)) {
      const found = places.some((place) => {
        let dir = place.endsWith("/")
          ? place.slice(0, -1)
          : place.split("/").slice(0, -1).join("/");
        for (;;) {
          if (exists(dir ? `${dir}/${name}` : name)) return true;
          if (!dir) return false;
          dir = dir.split("/").slice(0, -1).join("/");
        }
      });
      if (!found) missing.push(`${name} (named at ${path}; not there nor in a folder above)`);
    }
  }
  assert.deepEqual(missing, [], "docs/architecture.md's file map names paths that do not exist");
});

Deno.test("every folder of src/ is in docs/architecture.md's file map", () => {
  const mapped = new Set(fileMap().map((e) => e.path.split("/").slice(0, 2).join("/")));
  const missing = [...Deno.readDirSync(`${ROOT}src`)].filter((e) => e.isDirectory)
    .map((e) => `src/${e.name}`).filter((dir) => !mapped.has(dir)).sort()
    .map((dir) =>
      `${dir}/ is not in docs/architecture.md's file map: add a line "${dir}/  <what>"`
    );
  assert.deepEqual(missing, []);
});

Deno.test("docs/architecture.md's base modules are tests/architecture_test.ts's BASE", () => {
  const test = Deno.readTextFileSync(`${ROOT}tests/architecture_test.ts`);
  const base = /const BASE = \[([^\]]*)\]/.exec(test);
  assert.ok(base, "tests/architecture_test.ts: no `const BASE = [...]` found");
  const expected = [...base[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]).sort();
  const bullet = /^- base \(anyone may import\):([\s\S]*?)(?=^- |^$)/m.exec(ARCHITECTURE);
  assert.ok(bullet, 'docs/architecture.md: no "- base (anyone may import):" line');
  const listed = [...bullet[1].matchAll(/`([^`/]+)`/g)].map((m) => m[1]).sort();
  assert.deepEqual(listed, expected, "docs/architecture.md's base list (left) against BASE");
});

/** The docs: README.md, docs/*.md and every README.md under src/, relative to ROOT. */
function docFiles(): string[] {
  const files = ["README.md"];
  for (const e of Deno.readDirSync(`${ROOT}docs`)) {
    if (e.isFile && e.name.endsWith(".md")) files.push(`docs/${e.name}`);
  }
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
      if (e.isDirectory) walk(`${dir}/${e.name}`);
      else if (e.name === "README.md") files.push(`${dir}/${e.name}`);
    }
  };
  walk("src");
  return files.sort();
}

/** The members of each interface in src/plugin.ts, read from its text. */
function contract(): Map<string, string[]> {
  const text = Deno.readTextFileSync(`${ROOT}src/plugin.ts`);
  const out = new Map<string, string[]>();
  for (const m of text.matchAll(/^export interface (\w+)[^{]*\{\n([\s\S]*?)^\}/gm)) {
    out.set(m[1], [...m[2].matchAll(/^ {2}(?:readonly )?(\w+)\??\s*[(:<]/gm)].map((x) => x[1]));
  }
  return out;
}

Deno.test("the contract members the docs name are those of src/plugin.ts", () => {
  const members = contract();
  // Complete lists: where the docs list a Source's or a Sink's members, they list them all.
  const complete = ["Source", "Sink"];
  const wrong: string[] = [];
  for (const file of docFiles()) {
    const text = Deno.readTextFileSync(`${ROOT}${file}`);
    // Each paragraph (or list item) that names an interface of the contract in backticks.
    for (const paragraph of text.split(/\n\s*\n|\n(?=- )/)) {
      const spans = [...paragraph.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
      let current: string | undefined;
      const named = new Map<string, Set<string>>();
      for (const span of spans) {
        if (members.has(span)) {
          current = span;
          named.set(span, named.get(span) ?? new Set());
          continue;
        }
        const member = /^(?:ctx\.)?([a-z]\w*)(?:\(.*\))?$/.exec(span)?.[1];
        if (!current || !member) continue;
        named.get(current)!.add(member);
        if (!members.get(current)!.includes(member)) {
          wrong.push(`${file}: \`${member}\` is not a member of ${current} (src/plugin.ts)`);
        }
      }
      for (const [iface, said] of named) {
        if (!complete.includes(iface) || said.size === 0) continue;
        for (const m of members.get(iface)!.filter((m) => !said.has(m))) {
          wrong.push(`${file}: ${iface} has \`${m}\` (src/plugin.ts), which the docs leave out`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
});

/** Markdown with its fenced blocks blanked (line numbers kept). */
function withoutFences(text: string): string {
  return text.replace(
    /^( *)(```|~~~)[^\n]*\n[\s\S]*?^\1\2[^\n]*$/gm,
    (m) => m.replace(/[^\n]/g, " "),
  );
}

/** The same without code spans: links there are text, not links. */
function prose(text: string): string {
  return withoutFences(text).replace(/`[^`\n]*`/g, (m) => " ".repeat(m.length));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
function slug(heading: string): string {
  return heading.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[`*]/g, "").trim()
    .toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

/** The anchors a markdown file's headings make (a repeated heading gets -1, -2, ...). */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of withoutFences(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

Deno.test("every relative link in the docs points at a file and heading that exist", () => {
  const broken: string[] = [];
  for (const file of docFiles()) {
    const text = Deno.readTextFileSync(`${ROOT}${file}`);
    const dir = file.split("/").slice(0, -1).join("/");
    prose(text).split("\n").forEach((line, i) => {
      for (const [, target] of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const [path, anchor] = target.split("#", 2);
        const resolved = path === "" ? file : normalize(dir ? `${dir}/${path}` : path);
        const where = `${file}:${i + 1}: (${target})`;
        if (resolved.startsWith("../") || !exists(resolved)) {
          broken.push(`${where}: ${resolved} does not exist: fix the path or the file`);
        } else if (anchor !== undefined && resolved.endsWith(".md")) {
          const heads = anchors(Deno.readTextFileSync(`${ROOT}${resolved}`));
          if (!heads.has(anchor)) {
            broken.push(`${where}: ${resolved} has no heading #${anchor}: fix the anchor`);
          }
        }
      }
    });
  }
  assert.deepEqual(broken, []);
});

/** `docs/../src/x` -> `src/x`; a path above the repository keeps its leading `../`. */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") out.length > 0 && out.at(-1) !== ".." ? out.pop() : out.push(part);
    else if (part !== "." && part !== "") out.push(part);
  }
  return out.join("/");
}

/** Files outside the docs that send a reader to a doc's section (messages, comments). */
const POINTING = ["src", "config", "systemd", "tools"];

/** The sections a markdown file names: its headings and the bold words that open a list item. */
function sections(text: string): string[] {
  const plain = (s: string) => s.replace(/[`*]/g, "").trim();
  return [
    ...[...withoutFences(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)].map((m) => plain(m[1])),
    ...[...text.matchAll(/^\s*(?:- |\d+\. )\*\*([^*]+)\*\*/gm)].map((m) => plain(m[1])),
  ];
}

Deno.test("every doc section named in code, config and the unit exists", () => {
  // `docs/x.md, "Heading"`, `src/.../README.md, "Heading"`, `README "Heading"` (the top README),
  // `README.md beside this file, "Heading"`; a name may be a heading's beginning.
  const pointer =
    /(docs\/[\w-]+\.md|src\/[\w/]+\/README\.md|README\.md beside this file|README)[,:]? \\?"([^"\\]+)/g;
  const broken: string[] = [];
  const walk = (dir: string): string[] =>
    [...Deno.readDirSync(`${ROOT}${dir}`)].flatMap((e) =>
      e.isDirectory ? walk(`${dir}/${e.name}`) : e.name.endsWith(".md") ? [] : [`${dir}/${e.name}`]
    );
  for (const file of POINTING.filter(exists).flatMap(walk)) {
    const dir = file.split("/").slice(0, -1).join("/");
    Deno.readTextFileSync(`${ROOT}${file}`).split("\n").forEach((line, i) => {
      // "README's security section", "(README)": a section no test can follow when it moves.
      if (/\bREADME\b(?!\.md| \\?")/.test(line)) {
        broken.push(
          `${file}:${i + 1}: names the README without a heading: write README "<heading>"`,
        );
      }
      for (const [, doc, name] of line.matchAll(pointer)) {
        const path = doc === "README"
          ? "README.md"
          : doc.startsWith("README.md ")
          ? `${dir}/README.md`
          : doc;
        const where = `${file}:${i + 1}: ${doc}, "${name}"`;
        if (!exists(path)) broken.push(`${where}: ${path} does not exist: point at the page now`);
        else if (
          !sections(Deno.readTextFileSync(`${ROOT}${path}`)).some((s) => s.startsWith(name))
        ) {
          broken.push(`${where}: ${path} has no such heading: name the one that holds it now`);
        }
      }
    });
  }
  assert.deepEqual(broken, []);
});
