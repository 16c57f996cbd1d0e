import assert from "node:assert/strict";
import { influxdbSchema } from "../../../src/sinks/influxdb/schema.ts";
import { createEncoder } from "../../../src/sinks/influxdb/encode.ts";

const base = { type: "influxdb", url: "http://127.0.0.1:8086", database: "d" };

Deno.test("samples become line protocol with node and gateway tags, floats, microsecond timestamps", () => {
  const enc = createEncoder(influxdbSchema.parse(base), { gatewayId: "gw 1" });
  const out = enc([{
    kind: "sample",
    data: {
      source: "vedirect",
      node: "mppt1",
      ts: 1700000000123,
      fields: { V: 12.064, PPV: 120, LOAD: true, CS_text: 'Bulk "fast"', N: null },
      tags: { product: "SmartSolar MPPT 75/15" },
    },
  }]);
  assert.equal(
    out,
    'vedirect,gateway=gw\\ 1,node=mppt1,product=SmartSolar\\ MPPT\\ 75/15,source=vedirect V=12.064,PPV=120,LOAD=true,CS_text="Bulk \\"fast\\"" 1700000000123000',
  );
});

Deno.test("hissrv-style mappings: regex captures become tags, fields are renamed", () => {
  const enc = createEncoder(
    influxdbSchema.parse({
      ...base,
      mappings: [{
        match: "^comsrv:(\\d+):m$",
        measurement: "channel_data",
        tags: { channel: "$1" },
        fields: { "101": "voltage" },
      }],
    }),
    { gatewayId: "g" },
  );
  const out = enc([{
    kind: "sample",
    data: { source: "redis", node: "comsrv:1001:m", ts: 5, fields: { "101": 230.1, "102": 1 } },
  }]);
  assert.equal(
    out,
    "channel_data,channel=1001,gateway=g,node=comsrv:1001:m,source=redis voltage=230.1 5000",
  );
});

Deno.test("windows become one point per window with _avg/_min/_max/_sum/_count fields", () => {
  const enc = createEncoder(influxdbSchema.parse(base), { gatewayId: "g" });
  const out = enc([{
    kind: "window",
    data: {
      level: "1m",
      node: "bmv1",
      start: 60_000,
      end: 120_000,
      stats: { V: { count: 2, min: 1, max: 3, sum: 4, avg: 2 } },
    },
  }]);
  assert.equal(
    out,
    "window_1m,gateway=g,level=1m,node=bmv1 V_avg=2,V_min=1,V_max=3,V_sum=4,V_count=2 60000000",
  );
});

Deno.test("Telegraf's layout: one measurement per kind of source, the device and source as tags", () => {
  const kinds: Record<string, string> = { mppt1: "vedirect", bmv1: "vedirect", units: "mqtt" };
  const enc = createEncoder(influxdbSchema.parse(base), {
    gatewayId: "g",
    kindOf: (source) => kinds[source],
  });
  const sample = (source: string, node: string) => ({
    kind: "sample" as const,
    data: { source, node, ts: 1, fields: { v: 1 } },
  });
  const out = enc([
    sample("mppt1", "mppt1"),
    sample("bmv1", "bmv1"),
    sample("units", "boiler"),
    sample("http", "lab"), // POST /ingest: no configured source, its own kind
    {
      kind: "window",
      data: { level: "5m", node: "mppt1", source: "mppt1", start: 0, end: 300_000, stats: {} },
    },
  ]).split("\n").map((l) => l.split(" ")[0]);
  assert.deepEqual(out, [
    "vedirect,gateway=g,node=mppt1,source=mppt1",
    "vedirect,gateway=g,node=bmv1,source=bmv1",
    "mqtt,gateway=g,node=boiler,source=units",
    "http,gateway=g,node=lab,source=http",
  ], "a window without statistics is no point");
  const per = createEncoder(influxdbSchema.parse({ ...base, measurement: "{source}" }), {
    gatewayId: "g",
    kindOf: (source) => kinds[source],
  });
  assert.match(per([sample("mppt1", "mppt1")]), /^mppt1,/);
  const w = enc([{
    kind: "window",
    data: {
      level: "5m",
      node: "mppt1",
      source: "mppt1",
      start: 0,
      end: 300_000,
      stats: { V: { count: 1, min: 1, max: 1, sum: 1, avg: 1 } },
    },
  }]);
  assert.match(w, /^vedirect_5m,gateway=g,level=5m,node=mppt1,source=mppt1 V_avg=1/);
});

Deno.test("samples stamped in one millisecond keep their microsecond steps in the line", () => {
  const enc = createEncoder(influxdbSchema.parse(base), { gatewayId: "g" });
  const lines = enc([0, 1, 2].map((i) => ({
    kind: "sample" as const,
    data: { source: "mqtt", node: "n", ts: (1_795_000_000_123_000 + i) / 1000, fields: { v: i } },
  }))).split("\n");
  assert.deepEqual(lines.map((l) => l.split(" ").pop()), [
    "1795000000123000",
    "1795000000123001",
    "1795000000123002",
  ]);
});
