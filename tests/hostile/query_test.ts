/** Attack 1: a query over all of time on the Redis store (no token needed) is bounded. */
import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway.ts";
import { startRedis, waitFor } from "../helpers/servers.ts";

const TOKEN = "hostile-query";

Deno.test("GET /query from the epoch, by window and raw, on the Redis store: bounded answers, the gateway keeps serving", async () => {
  const redis = await startRedis();
  const gw = await startGateway((port, data) =>
    `gateway: {id: q, data_dir: ${data}}
log: {level: error}
http: {port: ${port}, token: ${TOKEN}}
store: {type: redis, redis: {port: ${redis.port}}}
`
  );
  try {
    const now = Date.now();
    const ingest = (i: number) =>
      fetch(`${gw.url}/ingest`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(
          Array.from({ length: 20 }, (_, j) => ({
            node: "x",
            ts: now - 60_000 + (i * 20 + j) * 100,
            fields: { v: i * 20 + j },
          })),
        ),
      }).then((r) => r.status);
    for (let i = 0; i < 10; i++) assert.equal(await ingest(i), 200);
    // The Redis store writes every second.
    await waitFor(async () => {
      const body = await (await fetch(`${gw.url}/query?node=x&from=0`)).json();
      return body.points.length >= 20;
    }, { what: "the 20 seconds stored" });
    const started = performance.now();
    for (const window of ["1m", "5m"]) {
      // From the epoch: refused at once, saying what the bound is.
      const all = await fetch(`${gw.url}/query?node=x&from=0&to=${now}&window=${window}`);
      assert.equal(all.status, 400);
      assert.match((await all.json()).error, /at most 20000 windows of .* narrow the range/);
      const week = await fetch(`${gw.url}/query?node=x&from=-7d&window=${window}`);
      assert.equal(week.status, 200);
      assert.ok(Array.isArray((await week.json()).points));
    }
    const raw = await (await fetch(`${gw.url}/query?node=x&from=0&to=${now + 86_400_000}`)).json();
    assert.ok(raw.points.length >= 20, "the raw seconds stored");
    console.log(`five queries: ${(performance.now() - started).toFixed(0)} ms`);
    // At most `limit` points, and a limit beyond the bound is refused.
    const some = await (await fetch(`${gw.url}/query?node=x&from=0&limit=10`)).json();
    assert.equal(some.points.length, 10);
    assert.equal(some.truncated, true);
    const refused = await fetch(`${gw.url}/query?node=x&from=0&limit=1000000`);
    assert.equal(refused.status, 400);
    assert.match((await refused.json()).details.join(), /limit/);
    assert.equal((await gw.health()).code, 200);
    assert.equal(await ingest(10), 200, "good traffic still stored");
    const rss = gw.rssMiB();
    assert.ok(rss < 200, `RSS ${rss.toFixed(0)} MiB`);
  } finally {
    await gw.stop();
    await redis.stop();
  }
});
