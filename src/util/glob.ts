/** Converts a shell glob (`*`, `?`) into an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/** A predicate true when any glob matches; always true for an empty list. */
export function globMatcher(globs: string[]): (name: string) => boolean {
  if (globs.length === 0) return () => true;
  const res = globs.map(globToRegExp);
  return (name) => res.some((re) => re.test(name));
}
