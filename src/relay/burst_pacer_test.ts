/**
 * Tests of paced GOP bursts: the pacer's schedule, and a Track feeding a UDP reader its GOP paced and in order
 * with the live packets behind it, while a TCP reader gets the GOP at once.
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { BURST_PACKETS_PER_MS, BurstPacer, onPaceTick } from "./burst_pacer.ts";
import { containedErrors } from "../contain.ts";
import type { Egress } from "./egress.ts";
import { GopCache } from "./gop_cache.ts";
import { Track } from "./track.ts";
import { rtpSequence, writeRtpHeader } from "../rtp/packet.ts";

class Recorder implements Egress {
  readonly seqs: number[] = [];
  constructor(readonly id: string, readonly kind: "udp" | "tcp" | "mesh") {}
  sendRtp(packet: Uint8Array): boolean {
    this.seqs.push(rtpSequence(packet));
    return true;
  }
  sendRtcp(): boolean {
    return true;
  }
}

function rtp(seq: number, nal: number): Uint8Array {
  const p = new Uint8Array(16);
  writeRtpHeader(p, 0, { marker: true, payloadType: 96, sequence: seq, timestamp: seq * 100, ssrc: 9 });
  p[12] = nal;
  return p;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

Deno.test("BurstPacer sends 32 packets at once, then 4 per ms, live packets on top, all in order", () => {
  const egress = new Recorder("r", "udp");
  const gop = range(0, 200).map((s) => rtp(s, 0x41));
  const pacer = new BurstPacer(egress, gop, 0);
  pacer.drain(0, () => {});
  equal(egress.seqs.length, 32, "the keyframe's start goes at once");
  pacer.drain(5, () => {});
  equal(egress.seqs.length, 32 + 5 * BURST_PACKETS_PER_MS);
  pacer.push(rtp(200, 0x41));
  pacer.push(rtp(201, 0x41));
  pacer.drain(5, () => {});
  equal(egress.seqs.length, 54, "live packets add to the allowance, they do not wait for a tick");
  let done = false;
  for (let t = 6; !done && t < 1000; t++) done = pacer.drain(t, () => {});
  ok(done);
  assertEquals(egress.seqs, range(0, 202));
  pacer.drain(2000, () => {});
  equal(egress.seqs.length, 202, "nothing more after the backlog");
});

Deno.test("BurstPacer sends at most 32 backlog packets after a late timer", () => {
  const egress = new Recorder("r", "udp");
  const pacer = new BurstPacer(egress, range(0, 500).map((s) => rtp(s, 0x41)), 0);
  pacer.drain(0, () => {});
  pacer.drain(1000, () => {});
  equal(egress.seqs.length, 64);
});

Deno.test("Track paces a UDP reader's GOP burst, keeps it off the fast route until done; TCP gets it at once", async () => {
  let routeChanges = 0;
  const track = new Track({
    index: 0,
    clockRate: 90_000,
    gopCache: new GopCache("H264", 4 << 20),
    onRouteChange: () => routeChanges++,
  });
  track.ingestRtp(rtp(0, 0x65));
  for (let s = 1; s < 300; s++) track.ingestRtp(rtp(s, 0x41));
  const udp = new Recorder("udp-reader", "udp");
  const tcp = new Recorder("tcp-reader", "tcp");
  track.addEgress(tcp, { burst: true });
  equal(tcp.seqs.length, 300, "TCP: the whole GOP at once");
  const before = routeChanges;
  track.addEgress(udp, { burst: true });
  ok(udp.seqs.length < 300 && udp.seqs.length >= 32, `UDP: ${udp.seqs.length} at once`);
  ok(track.isPacing(udp.id));
  for (let s = 300; s < 310; s++) track.ingestRtp(rtp(s, 0x41));
  equal(tcp.seqs.length, 310);
  const deadline = performance.now() + 2000;
  while (track.isPacing(udp.id) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  ok(!track.isPacing(udp.id), "the burst ended");
  track.ingestRtp(rtp(310, 0x41));
  const first = udp.seqs[0]!;
  assertEquals(udp.seqs, range(first, 311 - first), "GOP, then the live packets, once each and in order");
  equal(first, 0, "the GOP's keyframe first");
  ok(routeChanges >= before + 2, "a route change when the reader joined and when its burst ended");
  equal(track.counters.forwarded.udp, 311);
  track.removeEgress(udp.id);
  track.removeEgress(tcp.id);
});

Deno.test("onPaceTick() contains a tick that throws: the other bursts go on, the process stays up", async () => {
  let good = 0;
  const stopBad = onPaceTick(() => {
    throw new RangeError("track 256 is outside 0..255");
  });
  const stopGood = onPaceTick(() => good++);
  const before = containedErrors().get("gop burst pacing") ?? 0;
  await new Promise((r) => setTimeout(r, 50));
  stopBad();
  stopGood();
  ok(good >= 5, `${good} good ticks`);
  ok((containedErrors().get("gop burst pacing") ?? 0) - before >= 5, "the throwing ticks were counted");
});

Deno.test("BurstPacer.drain() counts an egress that throws as not taken and moves on", () => {
  let calls = 0;
  const egress: Egress = {
    id: "x",
    kind: "mesh",
    sendRtp: () => {
      calls++;
      throw new RangeError("boom");
    },
    sendRtcp: () => true,
  };
  const pacer = new BurstPacer(egress, range(0, 10).map((s) => rtp(s, 0x41)), 0);
  const taken: boolean[] = [];
  ok(pacer.drain(0, (t) => taken.push(t)), "the backlog is out");
  equal(calls, 10);
  assertEquals(taken, Array(10).fill(false));
});
