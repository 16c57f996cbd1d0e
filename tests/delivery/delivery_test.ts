/**
 * The delivery on its own: a real outbox in a temp dir, a sink written for the test (it stands
 * for a plugin author's code; the delivery is what is tested) and a fake clock, so retries,
 * backoff and max_wait run without waiting for them and never depend on the wall time.
 */
import assert from "node:assert/strict";
import { RejectedError, RetryableError, TooLargeError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { configureLog } from "../../src/log.ts";
import type { Envelope, Sample } from "../../src/model.ts";
import { Delivery, localBatches } from "../../src/delivery/mod.ts";
import type { Outbox, OutboxOptions } from "../../src/outbox/outbox.ts";
import { testDeliveryConfig, testOutbox } from "../helpers/delivery.ts";
import type { DeliveryConfig, Sink } from "../../src/plugin.ts";
import { ComponentStatus } from "../../src/status.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { waitFor } from "../helpers/servers.ts";

configureLog({ level: "error" });

function sample(i: number, node = "n1"): Envelope {
  const data: Sample = { source: "t", node, ts: 1_700_000_000_000 + i, fields: { seq: i, x: 1 } };
  return { kind: "sample", data };
}

const seqOf = (e: Envelope) => (e.data as Sample).fields.seq as number;

/** A sink as a plugin author writes one; `fail` decides the fate of each write. */
class TestSink implements Sink {
  /** Every write attempted, by the records' seq. */
  readonly attempts: number[][] = [];
  /** The batches the sink took. */
  readonly taken: number[][] = [];
  readonly envelopes: Envelope[] = [];
  fail: (seqs: number[]) => Error | undefined = () => undefined;

  write(batch: Envelope[]): Promise<void> {
    const seqs = batch.map(seqOf);
    this.attempts.push(seqs);
    const error = this.fail(seqs);
    if (error) return Promise.reject(error);
    this.taken.push(seqs);
    this.envelopes.push(...batch);
    return Promise.resolve();
  }

  get all(): number[] {
    return this.taken.flat();
  }
}

/** A sink that encodes a batch while another is in the air, and takes two in flight. */
class PreparingSink extends TestSink {
  readonly inFlight = 2;
  prepare(batch: Envelope[]): Promise<unknown> {
    return Promise.resolve(batch);
  }
  send(prepared: unknown): Promise<void> {
    return this.write(prepared as Envelope[]);
  }
}

interface Setup {
  outbox: Outbox;
  delivery: Delivery;
  status: ComponentStatus;
  clock: FakeClock;
  [Symbol.asyncDispose](): Promise<void>;
}

async function setup(
  sink: Sink,
  config: Partial<DeliveryConfig> = {},
  outboxOptions: Partial<OutboxOptions> = {},
): Promise<Setup> {
  const clock = new FakeClock();
  const dir = await Deno.makeTempDir({ prefix: "delivery-unit-" });
  const log = createLogger("test");
  const outbox = testOutbox(dir, {
    maxBytes: 4 * 1024 ** 2,
    maxDeadLetterBytes: 1024 ** 2,
    log,
    clock,
    ...outboxOptions,
  });
  const full = testDeliveryConfig(config);
  const status = new ComponentStatus("s", "test");
  outbox.register("s", { kinds: full.forward, nodes: full.nodes, status });
  const batches = localBatches(sink, { name: "s", outbox, config: full, status });
  const delivery = new Delivery("s", { outbox, batches, config: full, status, log, clock });
  return {
    outbox,
    delivery,
    status,
    clock,
    async [Symbol.asyncDispose]() {
      await delivery.stop();
      outbox.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Waits for `probe`, moving the clock a second at a time (for tests where time is no matter). */
function until(s: Setup, probe: () => boolean, what: string): Promise<void> {
  return waitFor(async () => {
    if (probe()) return true;
    await s.clock.advance(1000);
    return probe();
  }, { what });
}

/** Lets the loop run what it can without the clock moving (real time: nothing is timed). */
const settle = () => new Promise((r) => setTimeout(r, 30));

Deno.test("delivery: full batches go at once, in order; a partial one waits max_wait on the clock", async () => {
  const sink = new TestSink();
  await using s = await setup(sink);
  s.outbox.append(range(0, 25).map((i) => sample(i)));
  s.delivery.start();
  await waitFor(() => sink.taken.length === 2, { what: "two full batches" });
  await settle();
  assert.equal(sink.taken.length, 2, "the last 5 wait for more");
  assert.equal(s.outbox.depth("s").records, 5);
  await s.clock.advance(1000);
  await waitFor(() => sink.taken.length === 3, { what: "the partial batch after max_wait" });
  assert.deepEqual(sink.taken.map((b) => b.length), [10, 10, 5]);
  assert.deepEqual(sink.all, range(0, 25));
  assert.equal(s.status.processed, 25);
  assert.equal(s.status.state, "up");
  assert.equal(s.outbox.depth("s").records, 0);
});

Deno.test("delivery: a retryable failure backs off on the clock (Retry-After first), then delivers", async () => {
  const sink = new TestSink();
  let calls = 0;
  sink.fail = () => {
    calls++;
    if (calls === 1) return new RetryableError("503 from upstream", 30_000);
    if (calls === 2) return new RetryableError("connection refused");
  };
  await using s = await setup(sink, { batch_size: 3 });
  s.outbox.append(range(0, 3).map((i) => sample(i)));
  s.delivery.start();
  await waitFor(() => s.status.counters.retried === 1, { what: "the first failure" });
  assert.equal(s.status.state, "down", "never delivered: down");
  assert.equal(s.status.info.next_retry_ms, 30_000);
  await s.clock.advance(29_999);
  await settle();
  assert.equal(sink.attempts.length, 1, "Retry-After is honoured");
  await s.clock.advance(1);
  await waitFor(() => s.status.counters.retried === 2, { what: "the second failure" });
  // No Retry-After: the first backoff is backoff_min exactly.
  await s.clock.advance(999);
  await settle();
  assert.equal(sink.attempts.length, 2);
  await s.clock.advance(1);
  await waitFor(() => s.status.processed === 3, { what: "delivered on the third attempt" });
  assert.deepEqual(sink.all, [0, 1, 2]);
  assert.equal(s.status.state, "up");
  assert.equal(s.status.info.next_retry_ms, undefined);
  assert.equal(s.outbox.depth("s").records, 0);
});

Deno.test("delivery: a refused batch is split until the refused records are found; they become dead letters", async () => {
  const sink = new TestSink();
  const bad = new Set([3, 6]);
  sink.fail = (seqs) => {
    const b = seqs.find((x) => bad.has(x));
    return b === undefined ? undefined : new RejectedError(`400: field type of record ${b}`, 400);
  };
  await using s = await setup(sink, { batch_size: 8 });
  s.outbox.append(range(0, 8).map((i) => sample(i)));
  s.delivery.start();
  await waitFor(() => s.outbox.depth("s").records === 0, { what: "the cursor past the batch" });
  assert.deepEqual(sink.all, [0, 1, 2, 4, 5, 7], "the others delivered, in order");
  const letters = s.outbox.deadLetters.list({ sink: "s", limit: 10, data: true });
  assert.deepEqual(
    letters.map((l) => [(l.data as Sample).fields.seq, l.error]).sort(),
    [[3, "400: field type of record 3"], [6, "400: field type of record 6"]],
  );
  assert.equal(s.status.counters.dead_lettered, 2);
  assert.ok(s.status.counters.rejected_batches_split >= 2);
  assert.equal(s.status.processed, 6);

  // The cause fixed: a replay delivers them and empties the table.
  sink.fail = () => undefined;
  const replay = await s.delivery.replayDeadLetters();
  assert.deepEqual(replay, { replayed: 2, refused: 0 });
  assert.deepEqual(sink.taken.at(-1), [3, 6]);
  assert.equal(s.outbox.deadLetters.count("s"), 0);
});

Deno.test("delivery: a batch too large (413) is halved until it fits; nothing is dead-lettered", async () => {
  const sink = new TestSink();
  sink.fail = (seqs) => seqs.length > 3 ? new TooLargeError("413 payload too large") : undefined;
  await using s = await setup(sink, { batch_size: 10 });
  s.outbox.append(range(0, 10).map((i) => sample(i)));
  s.delivery.start();
  await until(s, () => s.status.processed === 10, "all delivered in smaller batches");
  assert.deepEqual(sink.all, range(0, 10));
  assert.ok(sink.taken.every((b) => b.length <= 3));
  assert.ok(s.status.counters.split >= 2, "halved at least twice (10 -> 5 -> 2)");
  assert.equal(s.outbox.deadLetters.count("s"), 0);
  assert.equal(s.outbox.depth("s").records, 0);
});

Deno.test("delivery: records the outbox drops before they were sent are counted on the sink with the reason", async () => {
  const sink = new TestSink();
  sink.fail = () => new RetryableError("upstream down");
  await using s = await setup(sink, { batch_size: 1000 }, { maxBytes: 20_000, maxAgeMs: 60_000 });
  s.delivery.start();
  for (let i = 0; i < 40; i++) s.outbox.append(range(i * 10, i * 10 + 10).map((j) => sample(j)));
  assert.ok((s.status.dropped.buffer_full ?? 0) > 0, "the byte bound dropped the oldest");
  await until(s, () => s.status.counters.retried >= 1, "a failed attempt");
  const waiting = s.outbox.depth("s").records;
  assert.ok(waiting > 0);
  await s.clock.advance(61_000);
  s.outbox.compact();
  assert.equal(s.status.dropped.expired, waiting, "what was still waiting expired");
  assert.equal(s.outbox.depth("s").records, 0);
  assert.equal(s.status.processed, 0);
});

Deno.test("delivery: the sink's `fields` apply once, before the sink sees the records", async () => {
  const sink = new TestSink();
  await using s = await setup(sink, { batch_size: 2, fields: ["seq"] });
  s.outbox.append([sample(0), sample(1)]);
  s.delivery.start();
  await waitFor(() => s.status.processed === 2, { what: "the batch" });
  assert.deepEqual(sink.envelopes.map((e) => (e.data as Sample).fields), [{ seq: 0 }, { seq: 1 }]);
});

Deno.test("delivery: under group commit, a record whose sender waits is read by no sink before its commit", async () => {
  const sink = new TestSink();
  await using s = await setup(sink, { batch_size: 1 }, { grouped: true });
  s.delivery.start();
  s.outbox.append([sample(0)], { waits: true });
  await settle();
  await s.clock.advance(5000);
  await settle();
  assert.deepEqual(sink.all, [], "held until its commit");
  s.outbox.group.commit();
  await waitFor(() => sink.all.length === 1, { what: "delivered after the commit" });
  assert.deepEqual(sink.all, [0]);
});

Deno.test("delivery: two batches in flight keep their order, and a failure sends again from the cursor", async () => {
  const sink = new PreparingSink();
  let failed = false;
  sink.fail = (seqs) => {
    if (!failed && seqs.includes(10)) {
      failed = true;
      return new RetryableError("503");
    }
  };
  await using s = await setup(sink, { batch_size: 5 });
  s.outbox.append(range(0, 30).map((i) => sample(i)));
  s.delivery.start();
  await waitFor(() => s.status.counters.retried === 1, { what: "the failed batch" });
  await s.clock.advance(1000);
  await waitFor(() => s.outbox.depth("s").records === 0, { what: "everything delivered" });
  // At least once, in order from the cursor: each batch starts where the one before ended or
  // again from the cursor after the failure.
  assert.deepEqual([...new Set(sink.all)].sort((a, b) => a - b), range(0, 30));
  const starts = sink.attempts.map((b) => b[0]);
  assert.equal(starts.filter((x) => x === 10).length, 2, "the failed batch was sent again");
  assert.ok((s.status.counters.sent_ahead ?? 0) > 0, "batches went while others were in the air");
  assert.equal(s.status.processed, 30);
});

Deno.test("delivery: reading moves no cursor; an idle sink's cursor passes the others' records", async () => {
  const sink = new TestSink();
  await using s = await setup(sink, { forward: ["event"] });
  const other = new ComponentStatus("other", "test");
  s.outbox.register("other", { kinds: ["sample"], nodes: [], status: other });
  s.outbox.append(range(0, 5).map((i) => sample(i)));
  const before = s.outbox.place("s").after;
  assert.equal(s.outbox.read("s", 10).length, 0);
  assert.equal(s.outbox.place("s").after, before, "a read writes nothing");
  s.outbox.ack("other", s.outbox.read("other", 10).at(-1)!.id);
  s.delivery.start();
  await waitFor(() => s.outbox.place("s").after > before, { what: "the idle sink to skip" });
  s.outbox.compact();
  assert.equal(s.outbox.bytes, 0, "the delivered samples are removed");
});

Deno.test("delivery: paused, nothing is sent and sync says so; resumed, everything goes", async () => {
  const sink = new TestSink();
  await using s = await setup(sink, { batch_size: 4 });
  s.delivery.setPaused(true);
  s.delivery.start();
  s.outbox.append(range(0, 4).map((i) => sample(i)));
  assert.deepEqual(await s.delivery.sync({ timeoutMs: 10_000 }), { sent: 0 });
  assert.equal(s.status.info.paused, true);
  s.delivery.setPaused(false);
  await waitFor(() => s.status.processed === 4, { what: "delivered once resumed" });
  assert.deepEqual(sink.all, range(0, 4));
});

Deno.test("delivery: sync sends a partial batch at once and reports the error of a failed write", async () => {
  const sink = new TestSink();
  await using s = await setup(sink, { batch_size: 100, max_wait: 60_000 });
  s.outbox.append(range(0, 3).map((i) => sample(i)));
  s.delivery.start();
  assert.deepEqual(await s.delivery.sync({ timeoutMs: 10_000 }), { sent: 3 });
  sink.fail = () => new RetryableError("connection reset");
  s.outbox.append([sample(3)]);
  const r = await s.delivery.sync({ timeoutMs: 10_000 });
  assert.equal(r.sent, 0);
  assert.match(r.error ?? "", /connection reset/);
  assert.equal(s.status.state, "degraded", "delivered before: degraded, not down");
});
