/**
 * What a skipped (thrown away) outbox commit must leave as it was: figures kept in memory by
 * whoever holds them across the commit (a dead-letter replay in flight).
 */
import assert from "node:assert/strict";
import { configureLog, createLogger } from "../../src/log.ts";
import type { Envelope, Sample } from "../../src/model.ts";
import { Delivery, localBatches } from "../../src/delivery/mod.ts";
import type { Sink } from "../../src/plugin.ts";
import { ComponentStatus } from "../../src/status.ts";
import { GroupCommit } from "../../src/util/group_commit.ts";
import { OutboxFullError } from "../../src/outbox/outbox.ts";
import { testDeliveryConfig, testOutbox } from "../helpers/delivery.ts";

configureLog({ level: "error" });

function sample(i: number, pad = ""): Envelope {
  const data: Sample = {
    source: "t",
    node: "n1",
    ts: 1_767_225_600_000 + i * 1000,
    fields: { seq: i, ...(pad ? { pad } : {}) },
  };
  return { kind: "sample", data };
}

/** A sink whose writes wait until the test lets them go. */
class GatedSink implements Sink {
  gate: Promise<void> = Promise.resolve();
  written = 0;
  async write(batch: Envelope[]): Promise<void> {
    await this.gate;
    this.written += batch.length;
  }
}

Deno.test("skipped commit: a dead-letter replay in flight across it leaves the outbox's bytes right (reject_new takes records again)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "discard-review-" });
  const outbox = testOutbox(dir, {
    maxBytes: 8_000,
    maxDeadLetterBytes: 2_000,
    onFull: "reject_new",
    sync: "normal",
    grouped: true,
  });
  const status = new ComponentStatus("s", "t");
  outbox.register("s", { kinds: ["sample"], nodes: [], status });
  const commits = new GroupCommit([outbox.group], { intervalMs: 60_000, onError: () => {} });
  const config = testDeliveryConfig();
  const sink = new GatedSink();
  const batches = localBatches(sink, { name: "s", outbox, config, status });
  const delivery = new Delivery("s", {
    outbox,
    batches,
    config,
    status,
    log: createLogger("test"),
  });
  try {
    // A record the upstream refused: a dead letter, committed.
    outbox.append([sample(1, "x".repeat(1_000))]);
    const bad = outbox.readRows("s", 10);
    outbox.deadLetter("s", bad, "HTTP 400: bad field");
    outbox.ack("s", bad.at(-1)!.id);
    commits.commitNow();
    assert.equal(outbox.group.figures.skipped ?? 0, 0);
    assert.ok(outbox.deadLetters.bytes > 1_000);

    // The cause fixed, the operator replays it; the upstream answers after a while.
    let open!: () => void;
    sink.gate = new Promise((r) => open = r);
    const replay = delivery.replayDeadLetters();
    await new Promise((r) => setTimeout(r, 10));

    // Meanwhile a record comes and goes upstream: the interval's commit is skipped.
    outbox.append([sample(2)]);
    const rows = outbox.readRows("s", 10);
    outbox.ack("s", rows.at(-1)!.id);
    commits.commitNow();
    assert.equal(outbox.group.figures.skipped, 1);

    // The replay ends: the dead letter left the table.
    open();
    assert.equal((await replay).replayed, 1);
    commits.commitNow();
    assert.equal(outbox.deadLetters.take("s", 10).length, 0);
    assert.equal(outbox.deadLetters.bytes, 0, "no dead letter left, none counted");
    assert.equal(outbox.bytes, 0, "the outbox holds nothing");
    // An empty outbox takes a hand-over (one may even go over its bound); none is refused.
    let refused: unknown = null;
    try {
      outbox.append([sample(3, "y".repeat(7_000))]);
    } catch (e) {
      refused = e;
    }
    assert.ok(!(refused instanceof OutboxFullError), `refused: ${refused}`);
  } finally {
    await delivery.stop();
    commits.stop();
    outbox.close();
    await Deno.remove(dir, { recursive: true });
  }
});
