/**
 * Tests of a mesh source's filter of its parents' packets: one numbering per epoch, repeats of two parents of one
 * epoch dropped, the epoch joined last taken at its first packet (the one place the numbering changes), packets of
 * an epoch left behind dropped.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { writeRtpHeader } from "../rtp/packet.ts";
import { EpochFilter } from "./epoch_filter.ts";

const E1 = "a/0000000000000001/x";
const E2 = "b/0000000000000002/y";

function rtp(seq: number, ssrc = 0xabc): Uint8Array {
  const p = new Uint8Array(13);
  writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: seq * 3000, ssrc });
  return p;
}

Deno.test("EpochFilter takes each number of an epoch once, from any of its parents", () => {
  const cuts: Array<string | null> = [];
  const f = new EpochFilter((e) => cuts.push(e));
  const take = (seqs: number[]) => seqs.map((s) => f.take(E1, E1, 0, rtp(s), 0));
  assertEquals(take([10, 11, 12]), [true, true, true]);
  assertEquals(take([11, 12, 13]), [false, false, true], "the new parent's overlap");
  assertEquals([f.duplicates, f.stale, f.epochs, cuts], [2, 0, 1, [E1]]);
  assertEquals(f.take(E1, E1, 1, rtp(11), 0), true, "another track, another filter");
});

Deno.test("EpochFilter takes the epoch joined last at its first packet, even close behind under the same SSRC", () => {
  const cuts: Array<string | null> = [];
  const f = new EpochFilter((e) => cuts.push(e));
  for (let s = 40_000; s < 40_010; s++) f.take(E1, E1, 0, rtp(s), 0);
  // Joined E2; the old parent still feeds E1 until the new one's first packet.
  assertEquals(f.take(E1, E2, 0, rtp(40_010), 0), true);
  assertEquals(f.take(E2, E2, 0, rtp(40_005), 0), true, "not a repeat: another numbering");
  assertEquals([f.forwarding, cuts], [E2, [E1, E2]]);
  assertEquals(f.take(E1, E2, 0, rtp(40_011), 0), false, "the epoch left behind is late");
  assertEquals(f.take(E1, E2, 0, null, 0), false, "its RTCP too");
  assertEquals([f.take(E2, E2, 0, rtp(40_006), 0), f.take(E2, E2, 0, rtp(40_005), 0)], [true, false]);
  assertEquals([f.stale, f.duplicates, f.epochs], [2, 1, 2]);
  f.cutOver(null); // stopped
  assertEquals([f.forwarding, cuts.at(-1)], [null, null]);
  f.cutOver(null);
  assertEquals(cuts.length, 3, "told once per change");
});
