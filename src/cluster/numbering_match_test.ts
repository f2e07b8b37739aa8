/**
 * Tests of the standby root's alignment of its camera pull with the mesh's numbering: offsets found from either
 * side's arrival order, repeated payloads never matched, one stray match never moves a taken offset.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import { writeRtpHeader } from "../rtp/packet.ts";
import { LOCK_MATCHES, MIN_MATCH_BYTES, NumberingMatch, payloadDigest } from "./numbering_match.ts";

/** An RTP packet whose payload is `payloadSeed`'s bytes (`size` of them). */
function packet(seq: number, ts: number, ssrc: number, payloadSeed: number, size = 200): Uint8Array {
  const buf = new Uint8Array(12 + size);
  writeRtpHeader(buf, 0, {
    marker: false,
    payloadType: 96,
    sequence: seq & 0xffff,
    timestamp: ts >>> 0,
    ssrc,
  });
  let x = payloadSeed * 2654435761 >>> 0;
  for (let i = 12; i < buf.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}

Deno.test("NumberingMatch takes the offset after LOCK_MATCHES agreeing matches, local packets first", () => {
  const m = new NumberingMatch();
  const local = (i: number) => packet(100 + i, 9000 + 3000 * i, 1, i);
  const mesh = (i: number) => packet(60_000 + i, 5 + 3000 * i, 2, i);
  for (let i = 0; i < LOCK_MATCHES - 1; i++) {
    m.noteLocal(0, local(i));
    m.noteMesh(0, mesh(i));
  }
  assertEquals(m.offset(0), null);
  m.noteLocal(0, local(LOCK_MATCHES));
  m.noteMesh(0, mesh(LOCK_MATCHES));
  assertEquals(m.offset(0), { seq: (60_000 - 100) & 0xffff, ts: (5 - 9000) >>> 0 });
  assertEquals(m.aligned(1), true);
  assertEquals(m.aligned(2), false);
});

Deno.test("NumberingMatch matches whichever side comes first, across the 16- and 32-bit wraps", () => {
  const m = new NumberingMatch();
  for (let i = 0; i < 10; i++) {
    m.noteMesh(1, packet(65_530 + i, 0xffff_fff0 + 3000 * i, 2, i));
    m.noteLocal(1, packet(7 + i, 40 + 3000 * i, 1, i));
  }
  const o = m.offset(1)!;
  assertEquals((7 + o.seq) & 0xffff, 65_530);
  assertEquals((40 + o.ts) >>> 0, 0xffff_fff0);
});

Deno.test("NumberingMatch never matches short payloads or a payload repeated within the window", () => {
  const m = new NumberingMatch();
  assertEquals(payloadDigest(packet(1, 1, 1, 1, MIN_MATCH_BYTES - 1)), -1);
  for (let i = 0; i < 20; i++) {
    // The same parameter sets every GOP, and short packets: nothing to learn from.
    m.noteLocal(0, packet(i, i, 1, 7));
    m.noteMesh(0, packet(500 + 2 * i, i, 2, 7));
    m.noteLocal(0, packet(1000 + i, i, 1, 100 + i, 20));
    m.noteMesh(0, packet(3000 + i, i, 2, 100 + i, 20));
  }
  assertEquals(m.offset(0), null);
  // Only the first copy on each side, before it repeated: one match, far from enough to take an offset.
  assertEquals(m.matches, 1);
});

Deno.test("NumberingMatch keeps a taken offset through stray matches and moves when a new one is confirmed", () => {
  const m = new NumberingMatch();
  let seed = 0;
  const pair = (localSeq: number, meshSeq: number) => {
    seed++;
    m.noteLocal(0, packet(localSeq, 0, 1, seed));
    m.noteMesh(0, packet(meshSeq, 0, 2, seed));
  };
  for (let i = 0; i < LOCK_MATCHES; i++) pair(i, 1000 + i);
  assertEquals(m.offset(0)?.seq, 1000);
  pair(50, 9999); // one payload that happened to match elsewhere
  assertEquals(m.offset(0)?.seq, 1000);
  for (let i = 0; i < LOCK_MATCHES - 1; i++) pair(60 + i, 2060 + i);
  assertEquals(m.offset(0)?.seq, 1000);
  pair(70, 2070);
  assertEquals(m.offset(0)?.seq, 2000);
  m.resetLocal();
  assertEquals(m.offset(0), null);
});

Deno.test("NumberingMatch finds the true offsets whatever the interleaving and losses (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()), { minLength: 40, maxLength: 200 }),
      (localBase, meshBase, tsShift, plan) => {
        const m = new NumberingMatch();
        const late: Uint8Array[] = [];
        plan.forEach(([meshFirst, lostLocal, lostMesh], i) => {
          const l = packet(localBase + i, 3000 * i, 1, i + 1);
          const g = packet(meshBase + i, 3000 * i + tsShift, 2, i + 1);
          if (meshFirst) {
            if (!lostMesh) m.noteMesh(0, g);
            if (!lostLocal) late.push(l);
          } else {
            if (!lostLocal) m.noteLocal(0, l);
            if (!lostMesh) late.push(g);
          }
          // The other side's copy comes a few packets later.
          if (late.length > 3) {
            const p = late.shift()!;
            if (p[11] === 1) m.noteLocal(0, p);
            else m.noteMesh(0, p);
          }
        });
        const o = m.offset(0);
        // Every pair that lost neither copy is a match (but the last few, still on their way).
        const whole = plan.filter(([, a, b]) => !a && !b).length;
        if (whole < LOCK_MATCHES + 3) return o === null || o.seq === ((meshBase - localBase) & 0xffff);
        assertEquals(o, { seq: (meshBase - localBase) & 0xffff, ts: tsShift >>> 0 });
        return true;
      },
    ),
  );
});
