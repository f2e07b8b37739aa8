/**
 * Tests of {@linkcode PacketRing}: placement, wrap, overwrite detection (including a datagram being written),
 * and a property test against a model of what the ring must still hold.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, throws } from "node:assert/strict";
import fc from "fast-check";
import { MIN_RING_BYTES, PacketRing, RING_HEADER } from "./packet_ring.ts";

function write(ring: PacketRing, data: Uint8Array): number {
  const position = ring.reserve(data.length);
  if (position >= 0) ring.bytes.set(data, ring.offsetOf(position));
  return position;
}

Deno.test("PacketRing rounds its size up to a power of two and reopens from its buffer", () => {
  const ring = new PacketRing(5000);
  equal(ring.size, 8192);
  equal(new PacketRing(1).size, MIN_RING_BYTES);
  const p = write(ring, Uint8Array.of(1, 2, 3));
  const other = new PacketRing(ring.buffer);
  assertEquals(other.copyOut(p, 3), Uint8Array.of(1, 2, 3));
  throws(() => new PacketRing(new SharedArrayBuffer(RING_HEADER + 5000)), RangeError);
  throws(() => new PacketRing(2 ** 31), RangeError);
});

Deno.test("PacketRing.reserve() never splits a datagram across the end and refuses one larger than the ring", () => {
  const ring = new PacketRing(4096);
  equal(write(ring, new Uint8Array(4000)), 0);
  equal(write(ring, new Uint8Array(200)), 4096); // 96 bytes left at the end: skipped
  equal(ring.offsetOf(4096), RING_HEADER);
  equal(ring.reserve(4097), -1);
  equal(ring.head, 4296);
});

Deno.test("PacketRing.copyOut() returns null once the writer reached the datagram's bytes again", () => {
  const ring = new PacketRing(4096);
  const a = write(ring, new Uint8Array(1000).fill(1));
  const b = write(ring, new Uint8Array(1000).fill(2));
  write(ring, new Uint8Array(2000).fill(3));
  assertEquals(ring.copyOut(a, 1000), new Uint8Array(1000).fill(1));
  // A datagram being written (reserved, not copied yet) over `a`: `a` is gone, `b` is not.
  ring.reserve(96 + 10);
  equal(ring.copyOut(a, 1000), null);
  assertEquals(ring.copyOut(b, 1000), new Uint8Array(1000).fill(2));
  equal(ring.copyOut(b + 5000, 10), null); // a position the ring never gave
});

Deno.test("PacketRing positions wrap at 2^32", () => {
  const ring = new PacketRing(4096);
  new Int32Array(ring.buffer, 0, 1)[0] = (2 ** 32 - 4096) | 0;
  const a = write(ring, Uint8Array.of(9, 8, 7));
  equal(a, 2 ** 32 - 4096);
  write(ring, new Uint8Array(4092)); // ends 1 byte before 2^32
  const c = write(ring, Uint8Array.of(1, 2));
  equal(c, 0); // wrapped past 2^32 to position 0
  assertEquals(ring.copyOut(c, 2), Uint8Array.of(1, 2));
  equal(ring.copyOut(a, 3), null);
});

Deno.test("PacketRing keeps exactly the datagrams a reader may still take (model)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 60 }),
      (start, lengths) => {
        const ring = new PacketRing(4096);
        new Int32Array(ring.buffer, 0, 1)[0] = start | 0;
        const written: { position: number; data: Uint8Array; absEnd: number }[] = [];
        let abs = 0; // the model's unwrapped position, from `start`
        lengths.forEach((len, i) => {
          const data = new Uint8Array(len).fill((i % 250) + 1);
          const position = write(ring, data);
          const offset = (start + abs) % 4096;
          if (offset + len > 4096) abs += 4096 - offset;
          equal(position, (start + abs) >>> 0);
          abs += len;
          written.push({ position, data, absEnd: abs });
        });
        for (const w of written) {
          const absStart = w.absEnd - w.data.length;
          const kept = abs - absStart <= 4096;
          const copy = ring.copyOut(w.position, w.data.length);
          if (kept) assertEquals(copy, w.data);
          else equal(copy, null);
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("PacketRing.reserveReleased() never overwrites what the reader has not released", () => {
  const ring = new PacketRing(4096);
  const a = ring.reserveReleased(2000);
  const b = ring.reserveReleased(2000);
  equal([a, b].join(), "0,2000");
  equal(ring.reserveReleased(1000), -1); // would land on `a`, not released yet
  equal(ring.head, 4000);
  ring.release(a + 2000);
  equal(ring.reserveReleased(1000), 4096); // wraps onto `a`'s bytes, released
  equal(ring.reserveReleased(1500), -1); // would reach into `b`
  ring.release(b + 2000);
  ring.release(a + 2000); // behind: ignored
  equal(ring.reserveReleased(1500), 5096);
  equal(ring.reserveReleased(4097), -1);
});

Deno.test("PacketRing.reserveReleased() keeps every unreleased datagram intact (model)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.boolean()), { minLength: 1, maxLength: 80 }),
      (start, steps) => {
        const ring = new PacketRing(4096);
        const ctl = new Int32Array(ring.buffer, 0, 17);
        ctl[0] = start | 0;
        ctl[16] = start | 0;
        const pending: { position: number; data: Uint8Array }[] = [];
        steps.forEach(([len, releaseOne], i) => {
          if (releaseOne && pending.length > 0) {
            const done = pending.shift()!;
            ring.release(done.position + done.data.length);
          }
          const data = new Uint8Array(len).fill((i % 250) + 1);
          const position = ring.reserveReleased(len);
          if (position >= 0) {
            ring.bytes.set(data, ring.offsetOf(position));
            pending.push({ position, data });
          }
          for (const p of pending) assertEquals(ring.copyOut(p.position, p.data.length), p.data);
        });
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("PacketRing.refused counts what reserveReleased() refused for lack of released room", () => {
  const ring = new PacketRing(4096);
  ring.reserveReleased(4000);
  equal(ring.refused, 0);
  equal(ring.reserveReleased(200), -1);
  equal(ring.reserveReleased(5000), -1); // larger than the ring: no room would ever do, not counted
  equal(ring.refused, 1);
});
