import assert from "node:assert/strict";
import {
  decodeHex,
  getRequest,
  HexCommand,
  pingRequest,
  setRequest,
} from "../../../src/sources/vedirect/hex.ts";

Deno.test("ping and get requests match Victron's worked examples", () => {
  assert.equal(pingRequest(), ":154\n");
  assert.equal(getRequest(0x1000), ":70010003E\n");
});

Deno.test("a get reply decodes register, flags and little-endian value", () => {
  const msg = decodeHex("7001000C80076");
  assert.ok(!("error" in msg));
  assert.equal(msg.command, HexCommand.Get);
  assert.equal(msg.name, "get");
  assert.equal(msg.register, 0x1000);
  assert.equal(msg.flags, 0);
  assert.equal(msg.value, 200);
});

Deno.test("a frame error response decodes as error", () => {
  const msg = decodeHex("4AAAAFD");
  assert.ok(!("error" in msg));
  assert.equal(msg.name, "error");
});

Deno.test("a wrong checksum, odd length or non-hex text is an error, never a throw", () => {
  assert.ok("error" in decodeHex("7001000C80077"));
  assert.ok("error" in decodeHex("70010"));
  assert.ok("error" in decodeHex("7ZZ1000C80076"));
  assert.ok("error" in decodeHex(""));
});

Deno.test("set requests round-trip through the decoder", () => {
  const text = setRequest(0xedf0, 1234, { size: 2 });
  const msg = decodeHex(text.slice(1, -1));
  assert.ok(!("error" in msg));
  assert.equal(msg.register, 0xedf0);
  assert.equal(msg.value, 1234);
});

Deno.test("lower-case hex is accepted", () => {
  const msg = decodeHex("7001000c80076");
  assert.ok(!("error" in msg));
  assert.equal(msg.value, 200);
});
