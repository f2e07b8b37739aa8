/**
 * Tests of the GOP cache: where a GOP starts for H.264 and H.265 payload shapes, the byte bound, clearing.
 * @module
 */
import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import {
  rtpSequence,
  rtpTimestamp,
  setRtpSequence,
  setRtpSsrc,
  setRtpTimestamp,
  writeRtpHeader,
} from "../rtp/packet.ts";
import { PacketRing } from "../dataplane/packet_ring.ts";
import {
  AUDIO_RING_BYTES,
  digestRingBytes,
  GopCache,
  gopCodecOf,
  MAX_STARVED_RING_BYTES,
  VIDEO_RING_BYTES,
} from "./gop_cache.ts";

let seq = 0;
function rtp(ts: number, payload: number[], size = payload.length): Uint8Array {
  const p = new Uint8Array(12 + Math.max(size, payload.length));
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq++, timestamp: ts, ssrc: 1 });
  p.set(payload, 12);
  return p;
}

const sps = [0x67, 0x42];
const pps = [0x68, 0xce];
const idr = [0x65, 0x88];
const slice = [0x41, 0x9a];
const fuStart = (type: number) => [0x7c, 0x80 | type, 0x00];
const fuMiddle = (type: number) => [0x7c, type, 0x00];
const stapA = (...nals: number[][]) => [0x78, ...nals.flatMap((n) => [0, n.length, ...n])];

function seqs(cache: GopCache): number[] {
  return cache.packets.map(rtpSequence);
}

Deno.test("GopCache ignores packets before the first keyframe", () => {
  const cache = new GopCache("H264", 1 << 20);
  cache.push(rtp(0, slice));
  cache.push(rtp(3000, fuMiddle(5)));
  assertEquals(cache.packets.length, 0);
  assertEquals(cache.bytes, 0);
});

Deno.test("GopCache starts a GOP at SPS and keeps PPS and IDR of the same timestamp in it", () => {
  seq = 100;
  const cache = new GopCache("H264", 1 << 20);
  cache.push(rtp(0, slice)); // 100: before any keyframe
  cache.push(rtp(3000, sps)); // 101
  cache.push(rtp(3000, pps)); // 102
  cache.push(rtp(3000, fuStart(5))); // 103: same access unit, must not restart
  cache.push(rtp(3000, fuMiddle(5))); // 104
  cache.push(rtp(6000, slice)); // 105
  assertEquals(seqs(cache), [101, 102, 103, 104, 105]);
  assertEquals(cache.stats.gops, 1);
});

Deno.test("GopCache restarts at the next keyframe (STAP-A with SPS/PPS/IDR)", () => {
  seq = 0;
  const cache = new GopCache("H264", 1 << 20);
  cache.push(rtp(0, idr)); // 0
  cache.push(rtp(3000, slice)); // 1
  cache.push(rtp(6000, stapA(sps, pps, idr))); // 2
  cache.push(rtp(9000, slice)); // 3
  assertEquals(seqs(cache), [2, 3]);
  assertEquals(cache.stats.gops, 2);
});

Deno.test("GopCache drops a GOP that outgrows its byte bound until the next keyframe", () => {
  seq = 0;
  const cache = new GopCache("H264", 100);
  cache.push(rtp(0, idr, 40)); // 52 bytes
  cache.push(rtp(3000, slice, 40)); // 104 > 100: overflow
  assertEquals(cache.packets.length, 0);
  assertEquals(cache.stats.overflows, 1);
  cache.push(rtp(6000, slice, 10)); // still waiting for a keyframe
  assertEquals(cache.packets.length, 0);
  cache.push(rtp(9000, idr, 10)); // 3
  assertEquals(seqs(cache), [3]);
  assertEquals(cache.bytes, 22);
});

Deno.test("GopCache.clear() waits for the next keyframe", () => {
  const cache = new GopCache("H264", 1 << 20);
  cache.push(rtp(0, idr));
  cache.clear();
  cache.push(rtp(3000, slice));
  assertEquals(cache.packets.length, 0);
});

Deno.test("GopCache recognises H.265 IRAP pictures, parameter sets and FU starts", () => {
  seq = 0;
  const cache = new GopCache("H265", 1 << 20);
  const vps = [32 << 1, 1];
  const trail = [1 << 1, 1, 0xaa];
  const fuIdr = [49 << 1, 1, 0x80 | 19, 0x00];
  cache.push(rtp(0, trail)); // 0: ignored
  cache.push(rtp(3000, vps)); // 1: GOP start
  cache.push(rtp(3000, fuIdr)); // 2: same access unit
  cache.push(rtp(6000, trail)); // 3
  cache.push(rtp(9000, fuIdr)); // 4: next GOP
  assertEquals(seqs(cache), [4]);
  assertEquals(cache.stats.gops, 2);
});

Deno.test("GopCache skips malformed RTP payload offsets without starting a GOP", () => {
  const cache = new GopCache("H264", 1 << 20);
  const bad = rtp(0, idr);
  bad[0] = 0x80 | 0x0f; // 15 CSRCs claimed: payload offset past the end
  cache.push(bad);
  assertEquals(cache.packets.length, 0);
});

Deno.test("gopCodecOf maps SDP encoding names", () => {
  assertEquals(gopCodecOf("H264"), "H264");
  assertEquals(gopCodecOf("h264"), "H264");
  assertEquals(gopCodecOf("H265"), "H265");
  assertEquals(gopCodecOf("PCMU"), null);
  assertEquals(gopCodecOf(undefined), null);
});

Deno.test("GopCache.pushRef() keeps ring references that read back as the packets rewritten, in order", () => {
  const ring = new PacketRing(8192);
  const viaRef = new GopCache("H264", 1 << 16);
  const viaBytes = new GopCache("H264", 1 << 16);
  const originals = [rtp(90, idr, 200), rtp(90, slice, 300), rtp(180, slice, 100)];
  for (const [i, p] of originals.entries()) {
    const position = ring.reserve(p.length);
    ring.bytes.set(p, ring.offsetOf(position));
    const out = p.slice();
    const outSeq = (7000 + i) & 0xffff;
    setRtpSequence(out, outSeq);
    setRtpTimestamp(out, 555 + rtpTimestamp(p));
    setRtpSsrc(out, 0xabcdef);
    viaBytes.push(out);
    // Interleaved with a packet pushed as bytes, as a track switching planes would.
    if (i === 1) viaRef.push(out);
    else viaRef.pushRef(ring, position, p.length, outSeq, 555 + rtpTimestamp(p), 0xabcdef, i === 0);
  }
  equal(viaRef.length, 3);
  equal(viaRef.bytes, viaBytes.bytes);
  assertEquals(viaRef.packets, viaBytes.packets);
  assertEquals(viaRef.stats, viaBytes.stats);
  ring.reserve(8192); // overwrite everything: the copies made by the read above stay
  assertEquals(viaRef.packets, viaBytes.packets);
});

Deno.test("GopCache.pushRef() after many packets pushed whole (a prompt phase) still reads every reference back", () => {
  // Found by tests/fast_digest_test.ts under load: the reference fields grew by doubling only, so after 40 packets
  // pushed whole the next references were written past their end (dropped) and read back as empty packets.
  const ring = new PacketRing(1 << 16);
  const viaRef = new GopCache("H264", 1 << 20);
  const viaBytes = new GopCache("H264", 1 << 20);
  for (let i = 0; i < 120; i++) {
    const p = rtp(90, i === 0 ? idr : slice, 100 + i);
    const out = p.slice();
    setRtpSequence(out, i);
    setRtpSsrc(out, 0xabcdef);
    viaBytes.push(out);
    if (i < 40 || i % 7 === 0) viaRef.push(out);
    else {
      const position = ring.reserve(p.length);
      ring.bytes.set(p, ring.offsetOf(position));
      viaRef.pushRef(ring, position, p.length, i, 90, 0xabcdef, false);
    }
  }
  equal(viaRef.length, 120);
  assertEquals(viaRef.packets, viaBytes.packets);
  equal(viaRef.stats.ringMisses, 0);
});

Deno.test("GopCache.pushRef() loses the whole GOP, counted, when a referenced packet was overwritten", () => {
  const ring = new PacketRing(4096);
  const cache = new GopCache("H264", 1 << 16);
  const p = rtp(90, idr, 100);
  cache.pushRef(ring, ring.reserve(p.length), p.length, 1, 2, 3, true);
  ring.reserve(4096);
  equal(cache.packets.length, 0);
  equal(cache.stats.ringMisses, 1);
  equal(cache.bytes, 0);
  // Until the next keyframe nothing is cached.
  cache.pushRef(ring, ring.reserve(p.length), p.length, 1, 2, 3, false);
  equal(cache.length, 0);
});

Deno.test("digestRingBytes() sizes a track's ring: in-flight packets, twice the GOP, more when starved", () => {
  equal(digestRingBytes(undefined, 0), AUDIO_RING_BYTES);
  const cache = new GopCache("H264", 4 * 1024 * 1024);
  equal(digestRingBytes(cache, 0), VIDEO_RING_BYTES);
  for (let i = 0; i < 600; i++) cache.push(rtp(90, i === 0 ? idr : slice, 1200)); // ~727 KB cached
  equal(digestRingBytes(cache, VIDEO_RING_BYTES), 2 * VIDEO_RING_BYTES);
  equal(digestRingBytes(cache, 8 * VIDEO_RING_BYTES), 8 * VIDEO_RING_BYTES); // never shrinks
  // The main thread lagged more than the ring holds: it doubles, up to a bound.
  equal(digestRingBytes(undefined, AUDIO_RING_BYTES, true), 2 * AUDIO_RING_BYTES);
  equal(digestRingBytes(undefined, MAX_STARVED_RING_BYTES, true), MAX_STARVED_RING_BYTES);
  equal(digestRingBytes(undefined, 0, true), AUDIO_RING_BYTES);
});
