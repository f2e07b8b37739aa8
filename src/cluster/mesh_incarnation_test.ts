/** Tests of incarnations: 16 hex characters, random, and their bytes. */
import { deepStrictEqual as assertEquals, equal, ok, throws } from "node:assert/strict";
import { fromHex, INCARNATION_PATTERN, incarnationBytes, newIncarnation, toHex } from "./mesh_incarnation.ts";

Deno.test("newIncarnation() draws 16 lowercase hex characters, a new value each time", () => {
  const drawn = new Set(Array.from({ length: 1000 }, () => newIncarnation()));
  equal(drawn.size, 1000);
  for (const i of drawn) ok(INCARNATION_PATTERN.test(i), i);
});

Deno.test("incarnationBytes() and toHex() convert both ways; anything else is refused", () => {
  assertEquals([...incarnationBytes("00112233445566ff")], [0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0xff]);
  equal(toHex(incarnationBytes("0123456789abcdef")), "0123456789abcdef");
  for (const bad of ["", "0123", "0123456789ABCDEF", "0123456789abcdeg", "0123456789abcdef0"]) {
    throws(() => incarnationBytes(bad), RangeError, bad);
  }
  assertEquals([...fromHex("0aFf")], [0x0a, 0xff]);
  throws(() => fromHex("abc"), RangeError);
});
