/**
 * Tests of {@linkcode Track}: forwarding to egresses, the rewrite that gives readers one continuous RTP session
 * across upstream restarts, drops of invalid input, RTCP sender report rewriting and RTP-Info values.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, notStrictEqual, ok } from "node:assert/strict";
import fc from "fast-check";
import { ntpMiddle32, parseSenderReport } from "../rtp/rtcp.ts";
import { rtpSequence, rtpSsrc, rtpTimestamp } from "../rtp/packet.ts";
import type { Egress } from "./egress.ts";
import { GopCache } from "./gop_cache.ts";
import { Track } from "./track.ts";
import { testRtp, testSenderReport } from "../../tests/support/rtp_fixtures.ts";

const OUT_SSRC = 0x0badcafe;

/** An egress that keeps a copy of everything it is given. */
class RecordingEgress implements Egress {
  readonly rtp: Uint8Array[] = [];
  readonly rtcp: Uint8Array[] = [];
  constructor(readonly id: string, readonly kind: "udp" | "tcp" | "mesh" = "udp", public accept = true) {}
  sendRtp(packet: Uint8Array): boolean {
    if (!this.accept) return false;
    this.rtp.push(packet.slice());
    return true;
  }
  sendRtcp(packet: Uint8Array): boolean {
    this.rtcp.push(packet.slice());
    return true;
  }
}

/** A 12-byte header plus a 4-byte payload. */
const rtp = testRtp;

/** A sender report without report blocks. */
const senderReport = (ssrc: number, rtpTs: number) =>
  testSenderReport(ssrc, rtpTs, { ntpFrac: 0x80000000, packetCount: 10, octetCount: 1000 });

/** The getter through a call, so that asserting on it does not narrow later reads. */
function rtpInfoOf(track: Track): { seq: number; rtptime: number } | null {
  return track.nextRtpInfo;
}

/** A track at 90 kHz with a settable clock (seconds). */
function makeTrack(): { track: Track; clock: { t: number } } {
  const clock = { t: 100 };
  const track = new Track({ index: 0, clockRate: 90_000, outputSsrc: OUT_SSRC, now: () => clock.t });
  return { track, clock };
}

Deno.test("Track.ingestRtp() sends one copy per egress with the output SSRC and counts by sink kind", () => {
  const { track } = makeTrack();
  const a = new RecordingEgress("a", "udp");
  const b = new RecordingEgress("b", "tcp");
  track.addEgress(a);
  track.addEgress(b);
  track.addEgress(new RecordingEgress("a", "udp")); // same id: ignored
  equal(track.egresses.length, 2);

  track.ingestRtp(rtp(500, 9000, 0x11111111, 0x07));
  track.ingestRtp(rtp(501, 12600, 0x11111111, 0x08));

  for (const e of [a, b]) {
    assertEquals(e.rtp.map(rtpSequence), [500, 501]);
    assertEquals(e.rtp.map(rtpTimestamp), [9000, 12600]);
    assertEquals(e.rtp.map(rtpSsrc), [OUT_SSRC, OUT_SSRC]);
    assertEquals(e.rtp.map((p) => p[12]), [0x07, 0x08]); // payload untouched
  }
  assertEquals(track.counters.forwarded, { udp: 2, tcp: 2, mesh: 0 });
  equal(track.counters.packetsIn, 2);
  equal(track.counters.bytesIn, 32);
});

Deno.test("Track.removeEgress() stops forwarding to that egress only", () => {
  const { track } = makeTrack();
  const a = new RecordingEgress("a");
  const b = new RecordingEgress("b");
  track.addEgress(a);
  track.addEgress(b);
  track.ingestRtp(rtp(1, 0, 1));
  track.removeEgress("a");
  track.ingestRtp(rtp(2, 0, 1));
  equal(a.rtp.length, 1);
  equal(b.rtp.length, 2);
  assertEquals(track.egresses.map((e) => e.id), ["b"]);
});

Deno.test("Track.ingestRtp() counts a refusing egress as a slow_reader drop", () => {
  const { track } = makeTrack();
  const slow = new RecordingEgress("slow", "tcp", false);
  const fast = new RecordingEgress("fast", "udp");
  track.addEgress(slow);
  track.addEgress(fast);
  track.ingestRtp(rtp(1, 0, 1));
  track.ingestRtp(rtp(2, 0, 1));
  equal(track.counters.dropped.slow_reader, 2);
  assertEquals(track.counters.forwarded, { udp: 2, tcp: 0, mesh: 0 });
  equal(fast.rtp.length, 2);
});

Deno.test("Track.ingestRtp() drops invalid RTP as invalid_rtp without forwarding or observing it", () => {
  const observed: number[] = [];
  const track = new Track({ index: 0, clockRate: 90_000, observe: (length) => observed.push(length) });
  const e = new RecordingEgress("e");
  track.addEgress(e);

  track.ingestRtp(new Uint8Array(8).fill(0x80)); // shorter than the 12-byte fixed header
  const v1 = rtp(7, 0, 1);
  v1[0] = 0x40; // v=1
  track.ingestRtp(v1);
  const v0 = rtp(8, 0, 1);
  v0[0] = 0x00; // v=0
  track.ingestRtp(v0);
  const csrcOverrun = rtp(9, 0, 1);
  csrcOverrun[0] = 0x82; // v=2, cc=2: needs 20 header bytes, has 16
  track.ingestRtp(csrcOverrun);

  equal(track.counters.dropped.invalid_rtp, 4);
  equal(track.counters.packetsIn, 0);
  equal(e.rtp.length, 0);
  assertEquals(observed, []);
  equal(track.nextRtpInfo, null);
});

Deno.test("Track observe hook sees the length and arrival time of every packet taken", () => {
  const seen: Array<[number, number]> = [];
  const clock = { t: 5 };
  const track = new Track({
    index: 0,
    clockRate: 90_000,
    outputSsrc: OUT_SSRC,
    now: () => clock.t,
    observe: (length, at) => seen.push([length, at]),
  });
  track.ingestRtp(rtp(100, 0, 0xaaaa));
  track.newEpoch();
  clock.t = 6;
  const longer = new Uint8Array(40);
  longer.set(rtp(9, 0, 0xbbbb));
  track.ingestRtp(longer);
  assertEquals(seen, [[16, 5], [40, 6]]);
});

Deno.test("Track keeps sequence numbers and timestamps continuous across a new epoch", () => {
  const { track, clock } = makeTrack();
  const e = new RecordingEgress("e");
  track.addEgress(e);
  for (let i = 0; i < 5; i++) {
    track.ingestRtp(rtp(1000 + i, 9000 + 3600 * i, 0x11111111));
    clock.t += 0.04;
  }
  // Upstream restarts: same SSRC by chance, sequence and timestamp from scratch, 0.5 s after the last packet.
  track.newEpoch();
  clock.t += 0.46;
  track.ingestRtp(rtp(7, 123, 0x11111111));
  clock.t += 0.04;
  track.ingestRtp(rtp(8, 123 + 3600, 0x11111111));

  assertEquals(e.rtp.map(rtpSequence), [1000, 1001, 1002, 1003, 1004, 1005, 1006]);
  const lastBefore = 9000 + 3600 * 4;
  // 0.5 s at 90 kHz after the last packet's timestamp, then the upstream's own 3600 step.
  assertEquals(e.rtp.slice(4).map(rtpTimestamp), [lastBefore, lastBefore + 45_000, lastBefore + 48_600]);
  assertEquals(new Set(e.rtp.map(rtpSsrc)), new Set([OUT_SSRC]));
});

Deno.test("Track re-bases on a new upstream SSRC without an explicit epoch", () => {
  const { track, clock } = makeTrack();
  const e = new RecordingEgress("e");
  track.addEgress(e);
  track.ingestRtp(rtp(65535, 0xfffff000, 0x1)); // at the edge of both wraps
  clock.t += 0.1;
  track.ingestRtp(rtp(40000, 77, 0x2));
  track.ingestRtp(rtp(40001, 77 + 9000, 0x2));

  assertEquals(e.rtp.map(rtpSequence), [65535, 0, 1]);
  assertEquals(e.rtp.map(rtpTimestamp), [0xfffff000, (0xfffff000 + 9000) >>> 0, (0xfffff000 + 18000) >>> 0]);
  assertEquals(e.rtp.map(rtpSsrc), [OUT_SSRC, OUT_SSRC, OUT_SSRC]);
});

Deno.test("Track keeps upstream loss visible to readers within an epoch", () => {
  const { track } = makeTrack();
  const e = new RecordingEgress("e");
  track.addEgress(e);
  track.ingestRtp(rtp(10, 0, 5));
  track.ingestRtp(rtp(13, 0, 5)); // 11 and 12 lost upstream
  assertEquals(e.rtp.map(rtpSequence), [10, 13]);
});

Deno.test("Track.nextRtpInfo is null before output and matches the next forwarded packet", () => {
  const { track, clock } = makeTrack();
  equal(rtpInfoOf(track), null);
  const e = new RecordingEgress("e");
  track.addEgress(e);
  track.ingestRtp(rtp(300, 1_000_000, 9));
  track.ingestRtp(rtp(301, 1_003_600, 9));

  const info = rtpInfoOf(track);
  assertEquals(info, { seq: 302, rtptime: 1_003_600 });
  track.ingestRtp(rtp(302, 1_003_600, 9)); // second packet of the same frame
  equal(rtpSequence(e.rtp.at(-1)!), info!.seq);
  equal(rtpTimestamp(e.rtp.at(-1)!), info!.rtptime);

  // Across a restart the promise still holds for the sequence number.
  const before = track.nextRtpInfo!;
  track.newEpoch();
  clock.t += 1;
  track.ingestRtp(rtp(5, 42, 10));
  equal(rtpSequence(e.rtp.at(-1)!), before.seq);
  equal(rtpTimestamp(e.rtp.at(-1)!), before.rtptime + 90_000);
});

Deno.test("Track.nextRtpInfo wraps the sequence number at 2^16", () => {
  const { track } = makeTrack();
  track.ingestRtp(rtp(65535, 1, 1));
  assertEquals(track.nextRtpInfo, { seq: 0, rtptime: 1 });
});

Deno.test("Track.addEgress() with burst replays the cached GOP first; startRtpInfo names its first packet", () => {
  const clock = { t: 0 };
  const track = new Track({
    index: 0,
    clockRate: 90_000,
    outputSsrc: OUT_SSRC,
    now: () => clock.t,
    gopCache: new GopCache("H264", 64 * 1024),
  });
  const idr = (seq: number, ts: number) => rtp(seq, ts, 7, 0x65); // NAL type 5
  const p = (seq: number, ts: number) => rtp(seq, ts, 7, 0x41); // NAL type 1
  track.ingestRtp(p(1, 0)); // before any keyframe: not cached
  track.ingestRtp(idr(2, 3600));
  track.ingestRtp(p(3, 7200));
  assertEquals(track.startRtpInfo, { seq: 2, rtptime: 3600 });
  assertEquals(track.nextRtpInfo, { seq: 4, rtptime: 7200 });

  const late = new RecordingEgress("late");
  track.addEgress(late, { burst: true });
  track.ingestRtp(p(4, 10_800));
  assertEquals(late.rtp.map(rtpSequence), [2, 3, 4]);
  equal(track.counters.burstPackets, 2);

  // An upstream restart empties the cache: a joining reader starts with the next live packet.
  track.newEpoch();
  assertEquals(track.startRtpInfo, track.nextRtpInfo);
  const after = new RecordingEgress("after");
  track.addEgress(after, { burst: true });
  clock.t += 1;
  track.ingestRtp(p(900, 5));
  assertEquals(after.rtp.map(rtpSequence), [5]);
});

Deno.test("Track.ingestRtcp() rewrites the sender report's SSRC and RTP timestamp", () => {
  const { track, clock } = makeTrack();
  const e = new RecordingEgress("e");
  track.addEgress(e);
  track.ingestRtp(rtp(1, 50_000, 0xcafe));
  clock.t += 2;
  track.newEpoch();
  track.ingestRtp(rtp(900, 1000, 0xbeef)); // out ts 50_000 + 180_000: delta = 229_000
  track.ingestRtcp(senderReport(0xbeef, 1000 + 9000));

  equal(e.rtcp.length, 1);
  const sr = parseSenderReport(e.rtcp[0]!);
  ok(sr);
  equal(sr.ssrc, OUT_SSRC);
  equal(sr.rtpTimestamp, 50_000 + 180_000 + 9000);
  equal(sr.ntpSec, 3_900_000_000); // the rest untouched
  equal(sr.packetCount, 10);
  equal(track.counters.rtcpIn, 1);
});

Deno.test("Track.ingestRtcp() withholds sender reports it cannot map", () => {
  const { track } = makeTrack();
  const e = new RecordingEgress("e");
  track.addEgress(e);
  track.ingestRtcp(senderReport(0xbeef, 1)); // no RTP yet
  track.ingestRtp(rtp(1, 0, 0xbeef));
  track.ingestRtcp(senderReport(0x5555, 1)); // another source's report
  track.newEpoch();
  track.ingestRtcp(senderReport(0xbeef, 1)); // restart pending: mapping unknown
  equal(e.rtcp.length, 0);
  equal(track.counters.rtcpIn, 3);
});

Deno.test("Track.ingestRtcp() withholds BYE from readers and drops malformed RTCP", () => {
  const { track } = makeTrack();
  const e = new RecordingEgress("e");
  track.addEgress(e);
  track.ingestRtp(rtp(1, 0, 0x01020304));
  // v=2, p=0, count=1, BYE, length=1 word; SSRC 0x01020304: the camera leaving must not end the readers' stream
  const bye = new Uint8Array([0x81, 203, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04]);
  track.ingestRtcp(bye);
  track.ingestRtcp(new Uint8Array([0x81, 203, 0x00, 0x01])); // 4 bytes: too short
  track.ingestRtcp(new Uint8Array([0x41, 203, 0x00, 0x01, 1, 2, 3, 4])); // v=1

  assertEquals(e.rtcp, []);
  equal(track.counters.dropped.invalid_rtcp, 2);
  equal(track.counters.rtcpIn, 1);
});

Deno.test("Track.countDrop() and noteReaderReport() feed the counters", () => {
  const { track } = makeTrack();
  track.countDrop("unexpected_source");
  track.countDrop("unexpected_source");
  track.noteReaderReport();
  equal(track.counters.dropped.unexpected_source, 2);
  equal(track.counters.readerReports, 1);
});

/** One upstream session: a run of consecutive packets, then how the next one starts. */
interface Segment {
  seq: number;
  ts: number;
  tsStep: number;
  count: number;
  restart: "epoch" | "ssrc";
  gapSeconds: number;
}

const segmentArb: fc.Arbitrary<Segment> = fc.record({
  seq: fc.integer({ min: 0, max: 0xffff }),
  ts: fc.integer({ min: 0, max: 0xffffffff }),
  tsStep: fc.integer({ min: 0, max: 10_000 }),
  count: fc.integer({ min: 1, max: 40 }),
  restart: fc.constantFrom("epoch" as const, "ssrc" as const),
  gapSeconds: fc.double({ min: 0, max: 100_000, noNaN: true }),
});

Deno.test("Track output sequence numbers go up by one per forwarded packet across any restarts", () => {
  fc.assert(
    fc.property(
      fc.array(segmentArb, { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 0xfffffff0 }),
      (segments, firstSsrc) => {
        const clock = { t: 0 };
        const track = new Track({ index: 0, clockRate: 90_000, outputSsrc: OUT_SSRC, now: () => clock.t });
        const e = new RecordingEgress("e");
        track.addEgress(e);
        let ssrc = firstSsrc;
        const inTsDiffs: number[] = [];
        const boundaries = new Set<number>();
        const arrivals: number[] = [];
        for (const seg of segments) {
          if (seg.restart === "epoch") track.newEpoch();
          else ssrc = (ssrc + 1) >>> 0; // always a different SSRC
          clock.t += seg.gapSeconds;
          boundaries.add(e.rtp.length);
          for (let i = 0; i < seg.count; i++) {
            arrivals.push(clock.t);
            track.ingestRtp(rtp((seg.seq + i) & 0xffff, (seg.ts + i * seg.tsStep) >>> 0, ssrc));
            if (i > 0) inTsDiffs.push(seg.tsStep);
            clock.t += 0.01;
          }
        }
        const out = e.rtp;
        const total = segments.reduce((n, s) => n + s.count, 0);
        equal(out.length, total);
        const outTsDiffs: number[] = [];
        for (let i = 1; i < out.length; i++) {
          equal(rtpSequence(out[i]!), (rtpSequence(out[i - 1]!) + 1) & 0xffff);
          const tsDiff = (rtpTimestamp(out[i]!) - rtpTimestamp(out[i - 1]!)) >>> 0;
          if (!boundaries.has(i)) outTsDiffs.push(tsDiff);
          // Across a restart the timestamp advances by the wall-clock gap.
          else equal(tsDiff, Math.round((arrivals[i]! - arrivals[i - 1]!) * 90_000) >>> 0);
        }
        // Within an upstream session the timestamp steps are the upstream's own.
        assertEquals(outTsDiffs, inTsDiffs);
        ok(out.every((p) => rtpSsrc(p) === OUT_SSRC));
        equal(rtpSequence(out[0]!), segments[0]!.seq); // the first session passes through unchanged
        assertEquals(track.nextRtpInfo?.seq, (rtpSequence(out.at(-1)!) + 1) & 0xffff);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("Track keeps RFC 3550 statistics of its ingress and builds the upstream report block with LSR/DLSR", () => {
  const { track, clock } = makeTrack();
  const cam = 0x51515151;
  equal(track.inputSsrc, null);
  track.ingestRtp(rtp(65534, 0, cam));
  equal(track.receiverReportBlock(), null, "on probation: nothing to report");
  for (const seq of [65535, 0, 1, 3, 4]) { // 2 lost, across the sequence wrap
    clock.t += 0.04;
    track.ingestRtp(rtp(seq, 0, cam));
  }
  equal(track.inputSsrc, cam);
  const snap = track.receiverStats.snapshot();
  assertEquals([snap.expected, snap.received, snap.lost], [6, 5, 1]);

  clock.t = 200;
  track.ingestRtcp(senderReport(cam, 0));
  track.ingestRtcp(senderReport(0x999, 0)); // another source's SR: not ours
  clock.t = 200.5;
  assertEquals(track.receiverReportBlock(), {
    ssrc: cam,
    fractionLost: Math.floor(256 / 6),
    cumulativeLost: 1,
    highestSeq: 65536 + 4,
    jitter: track.receiverStats.reportBlock(0, 0).jitter,
    lsr: ntpMiddle32(3_900_000_000, 0x80000000),
    dlsr: 32768, // 0.5 s in 1/65536 s
  });
  equal(track.receiverReportBlock()!.fractionLost, 0, "each block closes an interval");
});

Deno.test("Track starts fresh receiver statistics when the upstream SSRC changes", () => {
  const { track } = makeTrack();
  for (const seq of [10, 11, 13]) track.ingestRtp(rtp(seq, 0, 0xaaaa));
  const first = track.receiverStats;
  equal(first.snapshot().lost, 1);
  for (const seq of [9000, 9001, 9002]) track.ingestRtp(rtp(seq, 0, 0xbbbb)); // a restarted camera
  notStrictEqual(track.receiverStats, first);
  assertEquals([track.receiverStats.snapshot().lost, track.receiverStats.snapshot().received], [0, 2]);
  equal(track.inputSsrc, 0xbbbb);
  equal(track.receiverReportBlock()!.ssrc, 0xbbbb);
});

Deno.test("Track keeps the latest reader report per reader until the reader is forgotten", () => {
  const { track } = makeTrack();
  const report = (cumulativeLost: number) => ({
    fractionLost: 0,
    cumulativeLost,
    jitterSeconds: 0.001,
    highestSeq: 1,
    at: 5,
  });
  track.noteReaderReport();
  track.setReaderReport("a", report(1));
  track.setReaderReport("a", report(2));
  track.setReaderReport("b", report(3));
  equal(track.counters.readerReports, 1);
  assertEquals([...track.readerReports].map(([k, r]) => [k, r.cumulativeLost]), [["a", 2], ["b", 3]]);
  track.forgetReader("a");
  assertEquals([...track.readerReports.keys()], ["b"]);
});

Deno.test("Track.ingestRtp() contains an egress that throws: the others get the packet, the drop is counted", () => {
  const track = new Track({ index: 0, clockRate: 90000, outputSsrc: OUT_SSRC });
  const before = new RecordingEgress("before");
  const after = new RecordingEgress("after", "tcp");
  const broken: Egress = {
    id: "broken",
    kind: "mesh",
    sendRtp: () => {
      throw new RangeError("track 256 is outside 0..255");
    },
    sendRtcp: () => {
      throw new RangeError("track 256 is outside 0..255");
    },
  };
  track.addEgress(before);
  track.addEgress(broken);
  track.addEgress(after);
  for (let i = 0; i < 3; i++) track.ingestRtp(rtp(100 + i, 1000 * i, 7));
  track.ingestRtcp(senderReport(7, 0));
  equal(before.rtp.length, 3);
  equal(after.rtp.length, 3, "the egress after the broken one got every packet");
  equal(after.rtcp.length, 1);
  equal(track.counters.dropped.send_error, 4);
  assertEquals(track.counters.forwarded, { udp: 3, tcp: 3, mesh: 0 });
});

Deno.test("Track re-bases a numbering that jumps under the same SSRC once confirmed: readers see no jump", () => {
  const track = new Track({ index: 0, clockRate: 90000, outputSsrc: OUT_SSRC });
  const egress = new RecordingEgress("r");
  track.addEgress(egress);
  for (let s = 40_000; s < 40_010; s++) track.ingestRtp(rtp(s, s * 10, 0x5555));
  // A new root under the same SSRC, numbering from elsewhere: the first packet is held back, the second confirms.
  track.ingestRtp(rtp(1_000, 500, 0x5555));
  track.ingestRtp(rtp(1_001, 510, 0x5555));
  track.ingestRtp(rtp(1_002, 520, 0x5555));
  const seqs = egress.rtp.map(rtpSequence);
  assertEquals(seqs.length, 12);
  assertEquals(seqs.slice(10), [(seqs[9]! + 1) & 0xffff, (seqs[9]! + 2) & 0xffff], "continuous for readers");
  // Loss within MAX_DROPOUT and late packets within MAX_MISORDER are not a new numbering.
  track.ingestRtp(rtp(1_500, 600, 0x5555));
  track.ingestRtp(rtp(1_450, 590, 0x5555));
  assertEquals(egress.rtp.map(rtpSequence).slice(12), [
    (seqs[11]! + 498) & 0xffff,
    (seqs[11]! + 448) & 0xffff,
  ]);
});
