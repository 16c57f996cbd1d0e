/**
 * The order of settings requests to each device. A device has one serial line, so:
 *
 * - changes to one node run one at a time, whoever asks (HTTP, a Venus `W/`), each
 *   reading the value it replaces and raising its audit event inside its turn: the
 *   audit's `old` is the previous change's `new`, never a value two changes read at once;
 * - changes have their own queue (bounded: past `maxWaiting` a change is refused as
 *   busy), so readers never fill it;
 * - reads that arrive while the same read is under way share its answer, so a flood
 *   of readers (the settings GET is open unless http.read_token is set) costs the line
 *   one read at a time, not one per request, and cannot fill the line's queue ahead of
 *   a change. A read that starts after a change finished is a new one: it sees the change.
 */
import {
  type SettingChange,
  SettingError,
  type SettingRequest,
  type SettingsAccess,
  type SettingsReport,
} from "./device_settings.ts";

interface Turns {
  tail: Promise<unknown>;
  waiting: number;
}

/** Settings access with changes queued per node and concurrent equal reads shared. */
export function lineUpSettings(
  access: SettingsAccess,
  options: { maxWaiting?: number } = {},
): SettingsAccess {
  const maxWaiting = options.maxWaiting ?? 8;
  const changes = new Map<string, Turns>();
  const reads = new Map<string, { node: string; answer: Promise<SettingsReport> }>();

  function read(node: string, options?: { names?: string[] }): Promise<SettingsReport> {
    const key = JSON.stringify([node, options?.names ?? null]);
    const shared = reads.get(key);
    if (shared) return shared.answer;
    const answer = access.read(node, options);
    const entry = { node, answer };
    reads.set(key, entry);
    const forget = () => reads.get(key) === entry && reads.delete(key);
    answer.then(forget, forget);
    return answer;
  }

  function change(node: string, request: SettingRequest): Promise<SettingChange> {
    let turns = changes.get(node);
    if (!turns) changes.set(node, turns = { tail: Promise.resolve(), waiting: 0 });
    if (turns.waiting >= maxWaiting) {
      return Promise.reject(
        new SettingError(
          "busy",
          `${node}: ${turns.waiting} setting changes are waiting for the device; try again`,
        ),
      );
    }
    const own = turns;
    own.waiting++;
    const run = own.tail.then(async () => {
      try {
        return await access.change(node, request);
      } finally {
        // Before the caller hears of it: reads from now on must see this change (none joins a
        // read that started before it), and the caller's next change must find its place free.
        for (const [key, r] of reads) if (r.node === node) reads.delete(key);
        if (--own.waiting === 0 && changes.get(node) === own) changes.delete(node);
      }
    });
    own.tail = run.catch(() => {});
    return run;
  }

  return { read, change, refused: (node, write) => access.refused(node, write) };
}
