/**
 * Tests of {@linkcode Track.ingestDigest}: fed the fast plane worker's digests of packets kept in a ring, a track
 * counts, numbers, caches and forwards exactly as {@linkcode Track.ingestRtp} does with the packets themselves
 * (property test over reordering, loss, SSRC changes, sequence jumps, new epochs and GOP overflows), and a packet
 * the ring lost costs the GOP (cleared, counted) or the copy to an unserved reader, never a wrong packet.
 * @module
 */
import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import fc from "fast-check";
import { emptyRingDigest, PacketRing, type RingDigest } from "../dataplane/packet_ring.ts";
import { isKeyframeRtpAt } from "../rtp/keyframe.ts";
import { rtpSequence, rtpSsrc, rtpTimestamp } from "../rtp/packet.ts";
import type { Egress } from "./egress.ts";
import { GopCache } from "./gop_cache.ts";
import { Track } from "./track.ts";
import { testRtp } from "../../tests/support/rtp_fixtures.ts";

const OUT_SSRC = 0x0badcafe;
const IDR = 0x65; // H.264 NAL header: type 5
const SLICE = 0x41; // type 1

/** An egress that keeps a copy of everything it is given. */
class RecordingEgress implements Egress {
  readonly kind = "udp" as const;
  readonly rtp: Uint8Array[] = [];
  constructor(readonly id: string) {}
  sendRtp(packet: Uint8Array): boolean {
    this.rtp.push(packet.slice());
    return true;
  }
  sendRtcp(): boolean {
    return true;
  }
}

/** Two tracks fed the same packets: `bytes` by ingestRtp, `digest` by ingestDigest through `ring`. */
function pair(ringBytes: number, gopBytes: number) {
  const clock = { t: 10 };
  const make = (observed: number[][]) =>
    new Track({
      index: 0,
      clockRate: 90_000,
      outputSsrc: OUT_SSRC,
      now: () => clock.t,
      gopCache: new GopCache("H264", gopBytes),
      observe: (length, at) => observed.push([length, at]),
    });
  const observedBytes: number[][] = [];
  const observedDigest: number[][] = [];
  const bytes = make(observedBytes);
  const digest = make(observedDigest);
  const ring = new PacketRing(ringBytes);
  const served = new Set(["served"]);
  const egresses = { bytes: new RecordingEgress("late"), digest: new RecordingEgress("late") };
  bytes.addEgress(new RecordingEgress("served"));
  digest.addEgress(new RecordingEgress("served"));
  bytes.addEgress(egresses.bytes);
  digest.addEgress(egresses.digest);
  const d = emptyRingDigest(ring);
  /** Feeds one packet both ways, as the worker would: the original bytes into the ring, a digest posted. */
  const feed = (packet: Uint8Array) => {
    const position = ring.reserve(packet.length);
    ring.bytes.set(packet, ring.offsetOf(position));
    d.position = position;
    d.length = packet.length;
    d.seq = rtpSequence(packet);
    d.timestamp = rtpTimestamp(packet);
    d.ssrc = rtpSsrc(packet);
    d.keyframe = isKeyframeRtpAt("H264", packet, 0, packet.length);
    digest.ingestDigest(d, clock.t, served);
    bytes.ingestRtp(packet.slice(), served);
  };
  return { clock, bytes, digest, feed, ring, egresses, observedBytes, observedDigest };
}

/** What must read the same whichever way a track was fed. */
function observable(track: Track) {
  const gop = track.gopCache!;
  return {
    counters: structuredClone(track.counters),
    stats: track.receiverStats.snapshot(),
    next: track.nextRtpInfo,
    inputSsrc: track.inputSsrc,
    rewrite: track.rewrite,
    start: track.startRtpInfo,
    gop: gop.packets.map((p) => Array.from(p)),
    gopStats: { ...gop.stats },
    gopBytes: gop.bytes,
  };
}

type Op =
  | { kind: "packet"; seqStep: number; key: boolean; size: number; dt: number }
  | { kind: "ssrc" }
  | { kind: "jump"; by: number }
  | { kind: "epoch" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record({
      kind: fc.constant("packet" as const),
      // mostly in order; some loss (2, 3), duplicates (0) and reordering (-1, -2)
      seqStep: fc.constantFrom(1, 1, 1, 1, 1, 2, 3, 0, -1, -2),
      key: fc.boolean().map((b) => b && Math.random() < 0.3),
      size: fc.integer({ min: 16, max: 400 }),
      dt: fc.integer({ min: 0, max: 50 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "ssrc" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("jump" as const), by: fc.integer({ min: 3001, max: 60000 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "epoch" as const }) },
);

Deno.test("Track.ingestDigest() counts, numbers, caches and forwards as ingestRtp() does", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.array(opArb, { minLength: 1, maxLength: 150 }),
      (s0, ops) => {
        const t = pair(1 << 20, 6000); // a GOP of more than ~6 KB overflows
        let seq = s0;
        let ssrc = 0x1111;
        let ts = 1000;
        for (const op of ops) {
          if (op.kind === "ssrc") ssrc = (ssrc + 0x10001) >>> 0;
          else if (op.kind === "jump") seq = (seq + op.by) & 0xffff;
          else if (op.kind === "epoch") {
            t.bytes.newEpoch();
            t.digest.newEpoch();
          } else {
            seq = (seq + op.seqStep) & 0xffff;
            ts = (ts + op.dt * 90) >>> 0;
            t.clock.t += op.dt / 1000;
            const packet = new Uint8Array(op.size);
            packet.set(testRtp(seq, ts, ssrc, op.key ? IDR : SLICE));
            packet.fill(seq & 0xff, 16);
            t.feed(packet);
          }
          // The cache is read at random moments (a reader joining), not only at the end.
          if (seq % 7 === 0) assertEquals(observable(t.digest), observable(t.bytes));
        }
        assertEquals(observable(t.digest), observable(t.bytes));
        assertEquals(t.egresses.digest.rtp, t.egresses.bytes.rtp);
        assertEquals(t.observedDigest, t.observedBytes);
        assertEquals(t.digest.receiverReportBlock(), t.bytes.receiverReportBlock());
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("Track.ingestDigest() drops a GOP whose packets the ring overwrote, counted, and serves what is intact", () => {
  const t = pair(4096, 1 << 20);
  let seq = 100;
  const next = (key: boolean, size: number) => {
    const packet = new Uint8Array(size);
    packet.set(testRtp(seq++, 9000, 0x2222, key ? IDR : SLICE));
    return packet;
  };
  t.feed(next(true, 1000));
  t.feed(next(false, 1000));
  equal(t.digest.gopCache!.packets.length, 2); // still in the ring: copied out, kept from now on
  for (let i = 0; i < 5; i++) t.feed(next(false, 1000)); // the last one lands on the third packet's bytes
  equal(t.digest.gopCache!.length, 7);
  equal(t.digest.gopCache!.packets.length, 0);
  equal(t.digest.gopCache!.stats.ringMisses, 1);
  equal(t.digest.startRtpInfo?.seq, t.digest.nextRtpInfo?.seq); // no GOP: the next live packet
  // Every packet reached the reader the worker did not serve, in the output numbering.
  assertEquals(t.egresses.digest.rtp, t.egresses.bytes.rtp);
});

Deno.test("Track.ingestDigest() counts a packet the ring lost before an unserved reader got it as slow_reader", () => {
  const t = pair(4096, 1 << 20);
  const packet = testRtp(5, 0, 0x3333, SLICE);
  const d: RingDigest = {
    ring: t.ring,
    position: t.ring.reserve(16),
    length: 16,
    seq: 5,
    timestamp: 0,
    ssrc: 0x3333,
    keyframe: false,
    arrivalMs: 0,
  };
  t.ring.bytes.set(packet, t.ring.offsetOf(d.position));
  t.ring.reserve(4096); // the writer has come round
  t.digest.ingestDigest(d, 10, new Set(["served"]));
  equal(t.digest.counters.packetsIn, 1);
  equal(t.digest.counters.forwarded.udp, 1); // the served reader
  equal(t.digest.counters.dropped.slow_reader, 1);
  equal(t.egresses.digest.rtp.length, 0);
});

Deno.test("Track.ingestDigest() without a ring (the track keeps no packet) counts and numbers as ingestRtp(); an egress the worker did not serve starts later, no drop counted", () => {
  const clock = { t: 10 };
  const make = () => new Track({ index: 0, clockRate: 90_000, outputSsrc: OUT_SSRC, now: () => clock.t });
  const bytes = make();
  const digest = make();
  const served = new Set(["served"]);
  bytes.addEgress(new RecordingEgress("served"));
  digest.addEgress(new RecordingEgress("served"));
  const late = new RecordingEgress("late");
  digest.addEgress(late);
  const d = emptyRingDigest(null);
  for (let i = 0; i < 50; i++) {
    const seq = (0xfff0 + i + (i === 20 ? 3 : 0)) & 0xffff; // a wrap and a loss
    const packet = new Uint8Array(200);
    packet.set(testRtp(seq, 1000 + i * 3000, 0x1111, i % 10 === 0 ? IDR : SLICE));
    clock.t += 0.04;
    d.length = packet.length;
    d.seq = seq;
    d.timestamp = 1000 + i * 3000;
    d.ssrc = 0x1111;
    digest.ingestDigest(d, clock.t, served);
    bytes.ingestRtp(packet, served);
  }
  assertEquals(late.rtp, []);
  const view = (t: Track) => ({
    packetsIn: t.counters.packetsIn,
    bytesIn: t.counters.bytesIn,
    dropped: structuredClone(t.counters.dropped),
    stats: t.receiverStats.snapshot(),
    next: t.nextRtpInfo,
    report: t.receiverReportBlock(),
  });
  assertEquals(view(digest), view(bytes));
  equal(digest.counters.forwarded.udp, 50, "the served egress's copies, sent by the worker");
});
