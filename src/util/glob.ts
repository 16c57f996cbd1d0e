/**
 * One glob dialect for every name filter (sink `nodes` and `fields`, rule
 * `nodes`, Data-Service `devices` and `tags`): SQLite's GLOB, because the outbox
 * filters nodes in SQL with it. Case-sensitive; `*` any run of characters, `?`
 * one character, `[abc]` / `[a-z]` one of a set, `[^abc]` one not in it.
 */

/** SQLite GLOB (case-sensitive `*`, `?`, `[...]`, `[^...]`) as a regular expression. */
export function globRegExp(globs: string[]): RegExp {
  const one = (g: string) => {
    let out = "";
    for (let i = 0; i < g.length; i++) {
      const c = g[i];
      if (c === "*") out += "[\\s\\S]*";
      else if (c === "?") out += "[\\s\\S]";
      else if (c === "[" && g.indexOf("]", i + 2) > i) {
        const end = g.indexOf("]", i + 2);
        let set = g.slice(i + 1, end);
        if (set.startsWith("^")) set = "^" + set.slice(1).replace(/[\\\]]/g, "\\$&");
        else set = set.replace(/[\\\]]/g, "\\$&");
        out += `[${set}]`;
        i = end;
      } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
    return out;
  };
  return new RegExp(`^(?:${globs.map(one).join("|")})$`);
}

/** A predicate true when any glob matches; always true for an empty list. */
export function globMatcher(globs: string[]): (name: string) => boolean {
  if (globs.length === 0) return () => true;
  const re = globRegExp(globs);
  return (name) => re.test(name);
}
