/** A Worker for the bridge's tests: each call does what its name says, through serveBridge. */
import { RejectedError, RetryableError } from "../../src/errors.ts";
import { bridgeLog, emit, serveBridge } from "../../src/workers/serve.ts";

let prefix = "";

serveBridge({
  init(args: { prefix: string; fail?: boolean }) {
    if (args.fail) throw new RejectedError("sinks.x: bad pattern", 400);
    prefix = args.prefix;
    return "ready";
  },
  echo: async (text: string) => {
    await new Promise((r) => setTimeout(r, 5));
    emit({ echoed: text });
    return `${prefix}${text}`;
  },
  retry: () => {
    throw new RetryableError("503 from upstream", 1500);
  },
  log: (msg: string) => bridgeLog().warn(msg, { where: "worker" }),
  spin: () => {
    // Synchronous code that never ends: the Worker can answer nothing, not even post.
    for (;;) {
      // spin
    }
  },
  beat: async (args: { beats: number; everyMs: number }) => {
    // Busy longer than the caller's deadline, but saying so now and then: not stuck.
    for (let i = 0; i < args.beats; i++) {
      emit({ beat: i });
      await new Promise((r) => setTimeout(r, args.everyMs));
    }
    return "done";
  },
  die: () => {
    // An error no handler catches: the Worker dies.
    setTimeout(() => {
      throw new Error("boom");
    }, 0);
    return new Promise(() => {});
  },
}, { ordered: true });
