/** The image intake when the disk fills up for real (a 256 KiB tmpfs): counted, never a crash. */
import { systemClock } from "../../src/util/clock.ts";
import assert from "node:assert/strict";
import { ImageIntake } from "../../src/images/intake.ts";
import { createLogger } from "../../src/log.ts";
import type { Envelope } from "../../src/model.ts";
import { Policies } from "../../src/policies/policies.ts";
import { policiesSchema } from "../../src/policies/schema.ts";
import { ComponentStatus } from "../../src/status.ts";
import { jpegFrames } from "../helpers/frames.ts";
import { canMount, withTmpfs } from "../helpers/tmpfs.ts";
import { loadArchivers } from "../../src/policies/archive.ts";

await loadArchivers();

Deno.test({
  name:
    "disk full under the timelapse frames: frames are counted as not stored, the intake carries on",
  ignore: !canMount,
  fn: async () => {
    const frames = await jpegFrames(40, { width: 640, height: 480 });
    await withTmpfs("256k", async (disk) => {
      const policies = new Policies(
        policiesSchema.parse({
          nodes: { cam: { image_policy: { quality: 95, timelapse: { frames: 1000 } } } },
        }),
        { path: `${Deno.makeTempDirSync()}/p.db`, log: createLogger("test") },
      );
      policies.open();
      const dropped: Record<string, number> = {};
      const appended: Envelope[] = [];
      const intake = new ImageIntake({
        clock: systemClock,
        policies,
        dir: `${disk}/frames`,
        maxDisk: 100 * 1024 * 1024,
        append: (e) => Promise.resolve(void appended.push(...e)),
        drop: (_node, reason) => void (dropped[reason] = (dropped[reason] ?? 0) + 1),
        log: createLogger("test"),
        status: new ComponentStatus("cams", "mqtt"),
      });
      await intake.open();
      let acked = 0;
      for (const [i, frame] of frames.entries()) {
        const verdict = policies.accept("cam", frame, {
          payload: { kind: "image", format: "jpeg" },
          now: Date.now() + i,
        });
        assert.equal(verdict.kind, "image");
        if (verdict.kind !== "image") continue;
        intake.accept("cam", frame, { ...verdict, ack: () => acked++ });
      }
      await intake.close();
      assert.equal(acked, 40, "every message was acknowledged (stored or counted)");
      const stored = intake.timelapse.usage().frames;
      assert.ok(stored > 0 && stored < 40, `${stored} frames fit on the 256 KiB disk`);
      assert.equal(dropped.image_not_stored, 40 - stored);
      const leftovers = [...Deno.readDirSync(`${disk}/frames/cam/frames`)].filter((f) =>
        f.name.endsWith(".tmp")
      );
      assert.deepEqual(leftovers, [], "no partial frame left behind");
      policies.close();
    });
  },
});
