/**
 * Tests of {@linkcode Track} fed by the mesh (relayRtp/relayRtcp): this relay's readers get its own numbering,
 * continuous across re-bases, while its mesh children get every packet, GOP burst and sender report in the
 * numbering it arrived with (the root's), so that the mesh carries one numbering per epoch.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { parseSenderReport } from "../rtp/rtcp.ts";
import { renumberRtp, type RtpRenumber, rtpSequence, rtpSsrc, rtpTimestamp } from "../rtp/packet.ts";
import type { Egress } from "./egress.ts";
import { GopCache } from "./gop_cache.ts";
import { Track } from "./track.ts";
import { testRtp, testSenderReport } from "../../tests/support/rtp_fixtures.ts";

const OUT_SSRC = 0x0badcafe;

/** What an egress got: SSRC, sequence number and timestamp of each packet. */
type Numbered = [ssrc: number, seq: number, ts: number];

/** A reader (or, with kind "mesh", a child whose port applies the renumbering to its copy, as MeshPort does). */
class Recorder implements Egress {
  readonly got: Numbered[] = [];
  readonly rtcp: Uint8Array[] = [];
  constructor(readonly id: string, readonly kind: "udp" | "tcp" | "mesh") {}
  sendRtp(packet: Uint8Array, mesh?: RtpRenumber | null): boolean {
    const copy = packet.slice();
    if (this.kind === "mesh" && mesh) renumberRtp(copy, 0, mesh);
    this.got.push([rtpSsrc(copy), rtpSequence(copy), rtpTimestamp(copy)]);
    return true;
  }
  sendRtcp(packet: Uint8Array): boolean {
    this.rtcp.push(packet.slice());
    return true;
  }
}

/** An RTP packet of NAL type 5 (IDR) or 1 (P slice). */
const rtp = (seq: number, ts: number, ssrc: number, nal: 0x65 | 0x41 = 0x41) => testRtp(seq, ts, ssrc, nal);
const senderReport = (ssrc: number, rtpTs: number) => testSenderReport(ssrc, rtpTs);

function makeTrack(gop = false): { track: Track; clock: { t: number } } {
  const clock = { t: 100 };
  const track = new Track({
    index: 0,
    clockRate: 90_000,
    outputSsrc: OUT_SSRC,
    now: () => clock.t,
    ...(gop ? { gopCache: new GopCache("H264", 1 << 20) } : {}),
  });
  return { track, clock };
}

function assertContinuous(got: Numbered[]): void {
  for (let i = 1; i < got.length; i++) {
    equal(got[i]![0], got[i - 1]![0], `one SSRC at ${i}`);
    equal(got[i]![1], (got[i - 1]![1] + 1) & 0xffff, `sequence continuous at ${i}`);
    ok(((got[i]![2] - got[i - 1]![2]) >>> 0) < 0x80000000, `timestamp forward at ${i}`);
  }
}

/** Relays `n` packets of one numbering, a frame (3000 ticks) each, 1/30 s apart. */
function relay(track: Track, clock: { t: number }, ssrc: number, seq: number, ts: number, n: number): void {
  for (let i = 0; i < n; i++) {
    track.relayRtp(rtp(seq + i, ts + 3000 * i, ssrc, i === 0 ? 0x65 : 0x41));
    clock.t += 1 / 30;
  }
}

Deno.test("Track.relayRtp(): readers get this relay's numbering, mesh children the one each packet arrived with", () => {
  const { track, clock } = makeTrack();
  const reader = new Recorder("reader", "tcp");
  const child = new Recorder("child", "mesh");
  track.addEgress(reader);
  track.addEgress(child);
  relay(track, clock, 0xa, 60_000, 1_000_000, 5);
  // A new epoch: its numbering has the same SSRC and starts 55,000 back; this relay's readers see a gap, not a jump.
  track.newEpoch();
  clock.t += 0.5;
  relay(track, clock, 0xa, 5_000, 70_000, 5);
  assertContinuous(reader.got);
  equal(reader.got[0]![0], OUT_SSRC);
  const arrived = (ssrc: number, seq: number, ts: number) =>
    Array.from({ length: 5 }, (_, i): Numbered => [ssrc, seq + i, ts + 3000 * i]);
  assertEquals(child.got, [...arrived(0xa, 60_000, 1_000_000), ...arrived(0xa, 5_000, 70_000)]);
  equal(track.counters.forwarded.mesh, 10);
});

Deno.test("Track.ingestRtp(): at the root, mesh children get the numbering its readers get", () => {
  const { track, clock } = makeTrack();
  const reader = new Recorder("reader", "udp");
  const child = new Recorder("child", "mesh");
  track.addEgress(reader);
  track.addEgress(child);
  track.ingestRtp(rtp(10, 500, 0xc));
  track.newEpoch(); // the camera restarted
  clock.t += 1;
  track.ingestRtp(rtp(9_000, 77, 0xd));
  assertEquals(child.got, reader.got);
  assertEquals(child.got, [[OUT_SSRC, 10, 500], [OUT_SSRC, 11, 500 + 90_000]]);
});

Deno.test("Track: a mesh child's GOP burst is in the numbering the cached packets arrived with; a re-base restarts the cache", () => {
  const { track, clock } = makeTrack(true);
  relay(track, clock, 0xa, 100, 0, 4); // IDR + 3: cached under the first rewrite
  track.newEpoch();
  relay(track, clock, 0xb, 40_000, 9_000_000, 6); // another numbering: re-based (offsets that are not zero)
  const child = new Recorder("child", "mesh");
  const reader = new Recorder("reader", "tcp");
  track.addEgress(child, { burst: true });
  track.addEgress(reader, { burst: true });
  assertEquals(child.got, Array.from({ length: 6 }, (_, i) => [0xb, 40_000 + i, 9_000_000 + 3000 * i]));
  assertEquals(
    reader.got.map((n) => n[1]),
    [104, 105, 106, 107, 108, 109],
    "the readers' numbering, continued",
  );
  // Re-based in the middle of a GOP (no keyframe yet): the cache holds nothing of two rewrites.
  track.newEpoch();
  track.relayRtp(rtp(7, 7, 0xc));
  const late = new Recorder("late", "mesh");
  track.addEgress(late, { burst: true });
  track.relayRtp(rtp(8, 3007, 0xc));
  assertEquals(late.got, [[0xc, 8, 3007]]);
});

Deno.test("Track: live packets queued behind a mesh child's paced burst keep the numbering they arrived with", async () => {
  const { track, clock } = makeTrack(true);
  relay(track, clock, 0xa, 60_000, 0, 3);
  track.newEpoch();
  relay(track, clock, 0xa, 1_000, 5_000, 100); // 100 cached: more than a pacer sends at once
  const child = new Recorder("child", "mesh");
  track.addEgress(child, { burst: true });
  ok(track.isPacing(child.id) && child.got.length < 100, `paced: ${child.got.length} at once`);
  track.newEpoch(); // a new epoch while the burst is still being paced
  relay(track, clock, 0xe, 30_000, 1, 5);
  const deadline = performance.now() + 2000;
  while (track.isPacing(child.id) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  ok(!track.isPacing(child.id), "the burst ended");
  assertEquals(child.got, [
    ...Array.from({ length: 100 }, (_, i): Numbered => [0xa, 1_000 + i, 5_000 + 3000 * i]),
    ...Array.from({ length: 5 }, (_, i): Numbered => [0xe, 30_000 + i, 1 + 3000 * i]),
  ]);
  track.close();
});

Deno.test("Track.relayRtcp(): readers get the sender report in this relay's numbering, mesh children as it arrived", () => {
  const { track, clock } = makeTrack();
  const reader = new Recorder("reader", "tcp");
  const child = new Recorder("child", "mesh");
  track.addEgress(reader);
  track.addEgress(child);
  relay(track, clock, 0xa, 100, 50_000, 1);
  track.newEpoch();
  clock.t += 2;
  track.relayRtp(rtp(900, 1_000, 0xb)); // re-based: the readers' timestamps are ahead by the gap and more
  const readersTs = reader.got[1]![2];
  ok(readersTs > 50_000 + 180_000, `${readersTs}`);
  const sr = senderReport(0xb, 1_000 + 9_000);
  track.relayRtcp(sr);
  const forReaders = parseSenderReport(reader.rtcp[0]!);
  assertEquals([forReaders?.ssrc, forReaders?.rtpTimestamp], [OUT_SSRC, readersTs + 9_000]);
  assertEquals(child.rtcp, [sr]);
  // Fed by a camera (ingestRtcp), mesh children get the readers' report.
  track.ingestRtcp(sr);
  assertEquals(child.rtcp[1], reader.rtcp[1]);
});
