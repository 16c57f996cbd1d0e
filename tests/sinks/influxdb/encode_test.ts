import assert from "node:assert/strict";
import { influxdbSchema } from "../../../src/sinks/influxdb/schema.ts";
import { createEncoder } from "../../../src/sinks/influxdb/encode.ts";

const base = { type: "influxdb", url: "http://127.0.0.1:8086", database: "d" };

Deno.test("samples become line protocol with node and gateway tags, floats, ms timestamps", () => {
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
    'vedirect,gateway=gw\\ 1,node=mppt1,product=SmartSolar\\ MPPT\\ 75/15 V=12.064,PPV=120,LOAD=true,CS_text="Bulk \\"fast\\"" 1700000000123',
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
  assert.equal(out, "channel_data,channel=1001,gateway=g,node=comsrv:1001:m voltage=230.1 5");
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
    "window_1m,gateway=g,level=1m,node=bmv1 V_avg=2,V_min=1,V_max=3,V_sum=4,V_count=2 60000",
  );
});
