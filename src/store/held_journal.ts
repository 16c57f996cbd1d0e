/** The embedded store's journal of open minutes (`held`): rows of the seconds of one commit. */
import type { FieldValue } from "../model.ts";

type Fields = Record<string, FieldValue>;

/** A second handed over since the last commit: node, second, fields. */
export type Fresh = [string, number, Fields];
/** A journal row: per node, its seconds as the fields changed since the one before (and gone). */
type JournalRow = [string, [number, Fields, string[]?][]][];

/**
 * A device's fields change little from one second to the next (VE.Direct: V, I, P of ~20), so a
 * journal row keeps only what changed: a 10 s row of 4 devices is then about one 1 KiB page.
 */
export function journalRow(fresh: Fresh[]): JournalRow {
  const byNode = new Map<string, [number, Fields, string[]?][]>();
  const prevOf = new Map<string, Fields>();
  for (const [node, sec, fields] of fresh) {
    const prev = prevOf.get(node) ?? {};
    const changed: Fields = {};
    for (const k in fields) if (!(k in prev) || prev[k] !== fields[k]) changed[k] = fields[k];
    const gone = Object.keys(prev).filter((k) => !(k in fields));
    let list = byNode.get(node);
    if (!list) byNode.set(node, list = []);
    list.push(gone.length > 0 ? [sec, changed, gone] : [sec, changed]);
    prevOf.set(node, fields);
  }
  return [...byNode];
}

/** The seconds of a journal row, in the order they were taken per node. */
export function* journalSeconds(row: JournalRow): Generator<Fresh> {
  for (const [node, list] of row) {
    let prev: Fields = {};
    for (const [sec, changed, gone] of list) {
      const fields = { ...prev, ...changed };
      for (const k of gone ?? []) delete fields[k];
      yield [node, sec, fields];
      prev = fields;
    }
  }
}
