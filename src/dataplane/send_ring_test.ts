import { deepStrictEqual as equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { SEND_RING_HEADER, SendRing } from "./send_ring.ts";

/** A batch of `length` bytes whose bytes tell its number. */
function batch(n: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (n + i) & 0xff;
  return b;
}

/** Drains `reader` up to the writer's position: [records, bytes] of each chunk, in order. */
function drainAll(writer: SendRing, reader: SendRing): Array<[number, Uint8Array]> {
  const out: Array<[number, Uint8Array]> = [];
  reader.drain(
    writer.writePosition,
    (at, length, records) => out.push([records, reader.bytes.slice(at, at + length)]),
  );
  return out;
}

Deno.test("SendRing passes batches in order to the other side of the shared buffer", () => {
  const writer = new SendRing(4096);
  const reader = new SendRing(writer.buffer);
  ok(writer.tryWrite(batch(1, 100), 3));
  ok(writer.tryWrite(batch(2, 7), 1));
  equal(drainAll(writer, reader), [[3, batch(1, 100)], [1, batch(2, 7)]]);
  equal(writer.pending, 0);
  equal(drainAll(writer, reader), []);
});

Deno.test("SendRing refuses a batch that would overwrite unsent ones, and takes it once they are sent", () => {
  const writer = new SendRing(4096);
  const reader = new SendRing(writer.buffer);
  ok(writer.tryWrite(batch(1, 3000), 1));
  ok(!writer.tryWrite(batch(2, 2000), 1), "1,096 bytes free: refused");
  ok(!writer.tryWrite(batch(3, 5000), 1), "larger than the ring: refused");
  equal(drainAll(writer, reader).length, 1);
  // The next chunk does not fit before the end: it goes at the start, the end skipped.
  ok(writer.tryWrite(batch(2, 2000), 1));
  equal(drainAll(writer, reader), [[1, batch(2, 2000)]]);
});

Deno.test("SendRing.drain() stops at the position it is given (batches written after a message wait)", () => {
  const writer = new SendRing(4096);
  const reader = new SendRing(writer.buffer);
  ok(writer.tryWrite(batch(1, 10), 1));
  const message = writer.writePosition;
  ok(writer.tryWrite(batch(2, 10), 1));
  const seen: number[] = [];
  reader.drain(message, (at) => seen.push(reader.bytes[at]!));
  equal(seen, [1]);
  reader.drain(writer.writePosition, (at) => seen.push(reader.bytes[at]!));
  equal(seen, [1, 2]);
});

Deno.test("SendRing refuses a buffer that is no ring", () => {
  throws(() => new SendRing(new SharedArrayBuffer(SEND_RING_HEADER + 5000)), RangeError);
  throws(() => new SendRing(new SharedArrayBuffer(100)), RangeError);
  equal(new SendRing(5000).size, 8192);
});

Deno.test("SendRing: any interleaving of writes and drains delivers every accepted batch once, in order, intact", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constant(-1)), { maxLength: 300 }),
      (ops) => {
        const writer = new SendRing(4096);
        const reader = new SendRing(writer.buffer);
        const accepted: Array<[number, Uint8Array]> = [];
        const got: Array<[number, Uint8Array]> = [];
        let n = 0;
        for (const op of ops) {
          if (op < 0) got.push(...drainAll(writer, reader));
          else {
            const b = batch(n, op);
            if (writer.tryWrite(b, n)) accepted.push([n, b]);
            n++;
          }
          ok(writer.pending <= writer.size);
        }
        got.push(...drainAll(writer, reader));
        equal(got, accepted);
      },
    ),
  );
});
