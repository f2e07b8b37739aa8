import assert from "node:assert/strict";
import fc from "fast-check";
import { PacketRing } from "../dataplane/packet_ring.ts";
import { rtpSequence, rtpSsrc, rtpTimestamp } from "../rtp/packet.ts";
import { RetransmitRing } from "./retransmit_ring.ts";

function rtp(seq: number, size = 100): Uint8Array {
  const p = new Uint8Array(size);
  p[0] = 0x80;
  p[2] = seq >> 8;
  p[3] = seq & 0xff;
  return p;
}

Deno.test("retransmit ring: a packet is served by its number until it is too old or its slot is reused", () => {
  const r = new RetransmitRing({ packets: 4, maxAgeMs: 100 });
  const a = rtp(10);
  r.push(10, a, 0);
  assert.equal(r.get(10, 50), a);
  assert.equal(r.get(10, 101), null); // too old
  assert.equal(r.get(11, 50), null); // never held
  r.push(14, rtp(14), 60); // 14 & 3 === 10 & 3: the slot goes to 14
  assert.equal(r.get(10, 60), null);
  assert.equal(rtpSequence(r.get(14, 60)!), 14);
  r.clear();
  assert.equal(r.get(14, 60), null);
  assert.equal(r.bytes, 0);
});

Deno.test("retransmit ring: owned bytes stay under the bound, the oldest dropped first", () => {
  const r = new RetransmitRing({ packets: 64, maxBytes: 1000 });
  for (let seq = 0; seq < 30; seq++) r.push(seq, rtp(seq, 100), 0);
  assert.ok(r.bytes <= 1000);
  assert.equal(r.get(19, 0), null);
  assert.equal(rtpSequence(r.get(20, 0)!), 20);
  assert.equal(rtpSequence(r.get(29, 0)!), 29);
});

Deno.test("retransmit ring: a reference into the plane's ring is copied out renumbered, and gone once overwritten", () => {
  const plane = new PacketRing(4096);
  const original = rtp(7, 1000);
  const position = plane.reserve(original.length);
  plane.bytes.set(original, plane.offsetOf(position));
  const r = new RetransmitRing();
  r.pushRef(500, plane, position, original.length, 9000, 0xabcdef01, 0);
  const copy = r.get(500, 1)!;
  assert.equal(rtpSequence(copy), 500);
  assert.equal(rtpTimestamp(copy), 9000);
  assert.equal(rtpSsrc(copy), 0xabcdef01);
  assert.equal(rtpSequence(original), 7); // the ring's bytes are not changed
  for (let i = 0; i < 5; i++) plane.bytes.set(rtp(1, 1000), plane.offsetOf(plane.reserve(1000)));
  assert.equal(r.get(500, 1), null);
});

Deno.test("retransmit ring: whatever is pushed, a packet served is the one pushed under that number", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ seq: fc.integer({ min: 0, max: 65535 }), size: fc.integer({ min: 12, max: 300 }) }),
        {
          maxLength: 200,
        },
      ),
      (pushes) => {
        const r = new RetransmitRing({ packets: 16, maxBytes: 2000 });
        const last = new Map<number, Uint8Array>();
        for (const { seq, size } of pushes) {
          const p = rtp(seq, size);
          r.push(seq, p, 0);
          last.set(seq, p);
          assert.ok(r.bytes <= 2000);
        }
        for (const [seq, p] of last) {
          const got = r.get(seq, 0);
          if (got !== null) assert.equal(got, p);
        }
      },
    ),
  );
});

Deno.test("retransmit ring: a stream under the byte bound for hours tracks no more entries than slots", () => {
  const r = new RetransmitRing({ packets: 64, maxBytes: 1 << 30, maxAgeMs: 1e12 });
  const p = rtp(0, 12);
  for (let i = 0; i < 200_000; i++) r.push(i & 0xffff, p, i);
  assert.ok(r.tracked <= 64, `${r.tracked} entries`);
  assert.equal(r.bytes, 64 * 12);
});
