import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeGenericNack, parseGenericNack } from "./rtcp_nack.ts";

Deno.test("generic NACK: the bytes RFC 4585 lays out, one PID and its mask", () => {
  const out = encodeGenericNack({
    senderSsrc: 0x01020304,
    mediaSsrc: 0x0a0b0c0d,
    seqs: [100, 101, 103, 116],
  });
  assert.deepEqual(
    [...out],
    [0x81, 205, 0, 3, 1, 2, 3, 4, 10, 11, 12, 13, 0, 100, 0x80, 0x05],
  );
});

Deno.test("generic NACK: numbers across the 16-bit wrap share an entry", () => {
  const out = encodeGenericNack({ senderSsrc: 1, mediaSsrc: 2, seqs: [65534, 65535, 0, 1] });
  assert.deepEqual(out.length, 16);
  assert.deepEqual(parseGenericNack(out), { senderSsrc: 1, mediaSsrc: 2, seqs: [65534, 65535, 0, 1] });
});

Deno.test("generic NACK: any sorted set of numbers survives the round trip", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 65535 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 200 }),
      (base, offsets) => {
        const seqs = offsets.sort((a, b) => a - b).map((o) => (base + o) & 0xffff);
        const parsed = parseGenericNack(encodeGenericNack({ senderSsrc: 7, mediaSsrc: 9, seqs }));
        assert.deepEqual(typeof parsed === "string" ? parsed : parsed.seqs, seqs);
      },
    ),
  );
});

Deno.test("generic NACK: what is not one is refused with a reason, never thrown", () => {
  const nack = encodeGenericNack({ senderSsrc: 1, mediaSsrc: 2, seqs: [5] });
  assert.match(parseGenericNack(nack.subarray(0, 12)) as string, /shorter/);
  const pli = nack.slice();
  pli[0] = 0x81;
  pli[1] = 206;
  assert.match(parseGenericNack(pli) as string, /not a generic NACK/);
  const long = nack.slice();
  long[3] = 9;
  assert.match(parseGenericNack(long) as string, /claims/);
  const v1 = nack.slice();
  v1[0] = 0x41;
  assert.match(parseGenericNack(v1) as string, /version/);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
    parseGenericNack(bytes);
  }));
});

Deno.test("generic NACK: a message naming thousands of numbers is read only up to the cap", () => {
  const seqs = Array.from({ length: 4000 }, (_, i) => i);
  const parsed = parseGenericNack(encodeGenericNack({ senderSsrc: 1, mediaSsrc: 2, seqs }), 300);
  assert.deepEqual(typeof parsed === "string" ? -1 : parsed.seqs.length, 300);
});
