/** The Redis store's writes: a batch of samples through the write script, in overlapping pipelines. */
import type { Redis } from "ioredis";
import type { FieldValue } from "../model.ts";

/** Samples per pipeline of a flush. */
const PIPELINE_SAMPLES = 2000;

/** Where and how the samples are written (the store's layout settings). */
export interface GroupedWriteOptions {
  /** The write script's SHA (loaded). */
  sha: string;
  hashPrefix: string;
  nodeSet: string;
  maxRows: number;
}

/**
 * Writes samples grouped by node and second (one EVALSHA per node) in pipelines of about
 * 2000 samples, each sent as soon as it is built: Redis runs one while the next is made (one
 * pipeline for a whole batch left Redis idle while it was built). Throws the first error; the
 * caller sends the whole batch again, and a second written twice merges.
 */
export async function writeGrouped(
  redis: Redis,
  grouped: Map<string, Map<number, Record<string, FieldValue>>>,
  options: GroupedWriteOptions,
): Promise<void> {
  const { sha, hashPrefix, nodeSet, maxRows } = options;
  const sent: Promise<[Error | null, unknown][] | null>[] = [];
  let pipe = redis.pipeline();
  let inPipe = 0;
  for (const [node, seconds] of grouped) {
    const member = `${hashPrefix}_${node}`;
    const args: string[] = [String(maxRows), member];
    for (const [sec, fields] of seconds) args.push(String(sec), JSON.stringify(fields));
    pipe.evalsha(sha, 3, member, `${member}:idx`, nodeSet, ...args);
    inPipe += seconds.size;
    if (inPipe >= PIPELINE_SAMPLES) {
      sent.push(pipe.exec());
      pipe = redis.pipeline();
      inPipe = 0;
      await new Promise((r) => setTimeout(r, 0)); // the socket write goes out meanwhile
    }
  }
  if (inPipe > 0) sent.push(pipe.exec());
  for (const results of await Promise.all(sent)) {
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }
}
