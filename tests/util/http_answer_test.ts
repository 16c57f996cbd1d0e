/** Upstream answers read within a bound: what is read of a body, and what a redirect becomes. */
import assert from "node:assert/strict";
import { RejectedError, RetryableError } from "../../src/errors.ts";
import { failedAnswer, settleAnswer } from "../../src/sinks/http_status.ts";
import {
  answerExcerpt,
  AnswerTooLargeError,
  EXCERPT_BYTES,
  readAnswer,
} from "../../src/util/http_answer.ts";

/** A body of `chunks` chunks of 64 KiB; `pulled()` says how many were asked for. */
function body(chunks: number) {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulled++ >= chunks) c.close();
      else c.enqueue(new Uint8Array(64 * 1024).fill(0x62));
    },
  });
  return { stream, pulled: () => pulled };
}

Deno.test("an error's excerpt reads 1 KiB of a huge body and cancels the rest", async () => {
  const b = body(4800);
  const text = await answerExcerpt(new Response(b.stream, { status: 500 }));
  assert.equal(text.length, EXCERPT_BYTES);
  assert.ok(b.pulled() <= 3, `pulled ${b.pulled()} chunks`);
});

Deno.test("a body past the limit is cut there: AnswerTooLargeError, not a success", async () => {
  const b = body(1000);
  await assert.rejects(
    readAnswer(new Response(b.stream), { where: "test", limit: 1024 * 1024, keep: false }),
    AnswerTooLargeError,
  );
  assert.ok(b.pulled() <= 18, `pulled ${b.pulled()} chunks`);
  const small = await readAnswer(new Response("hello"), { where: "test" });
  assert.equal(new TextDecoder().decode(small), "hello");
});

Deno.test("a write's answer: a 2xx past the bound is retried, a 3xx names its Location, a 400 is refused", async () => {
  await settleAnswer(new Response("ok"), "test");
  await assert.rejects(
    settleAnswer(new Response(body(300).stream), "test"),
    (e) => e instanceof RetryableError && /larger than 16 MiB/.test(e.message),
  );
  const moved = await failedAnswer(
    new Response("moved", { status: 307, headers: { Location: "http://elsewhere/x" } }),
    "InfluxDB",
  );
  assert.ok(moved instanceof RetryableError);
  assert.match(moved.message, /InfluxDB answered 307, a redirect to http:\/\/elsewhere\/x/);
  const refused = await failedAnswer(new Response("bad line", { status: 400 }), "InfluxDB");
  assert.ok(refused instanceof RejectedError);
  assert.equal(refused.message, "InfluxDB answered 400: bad line");
});
