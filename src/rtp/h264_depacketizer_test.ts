/**
 * Tests of the H.264 depacketizer: the relay's own packetizer's output comes back as the same pictures (single
 * NAL units and FU-A), STAP-A aggregates split, a loss drops pictures until the next keyframe, malformed payloads
 * are counted, never thrown on.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { H264Packetizer } from "./h264.ts";
import { type AccessUnit, H264Depacketizer, VideoDepacketizer } from "./h264_depacketizer.ts";
import { rtpMarker, rtpPayloadOffset, rtpSequence, rtpTimestamp } from "./packet.ts";

const SPS = new Uint8Array([0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8]);
const PPS = new Uint8Array([0x68, 0xce, 0x3c, 0x80]);
const slice = (type: number, size: number, seed: number) =>
  Uint8Array.from({ length: size }, (_, i) => (i === 0 ? 0x60 | type : (seed * 31 + i * 7) & 0xff));

/** Packets of `pictures` (each its NAL units) through the relay's packetizer. */
function packets(pictures: Uint8Array[][], mtu = 400): Uint8Array[] {
  const p = new H264Packetizer({ payloadType: 96, ssrc: 1, mtu, initialSequence: 65_530 });
  const out: Uint8Array[] = [];
  pictures.forEach((nals, i) => p.packetize(nals, 3000 * i, (pkt) => out.push(pkt)));
  return out;
}

function feed(d: H264Depacketizer, pkts: Uint8Array[]): AccessUnit[] {
  return pkts.flatMap((p) =>
    d.push(p.subarray(rtpPayloadOffset(p)), rtpSequence(p), rtpTimestamp(p), rtpMarker(p))
  );
}

Deno.test("H264Depacketizer gives back the packetizer's pictures, fragmented or not, across the sequence wrap", () => {
  const pictures = [
    [SPS, PPS, slice(5, 1500, 1)],
    [slice(1, 300, 2)],
    [slice(1, 2000, 3), slice(1, 50, 4)],
  ];
  const d = new H264Depacketizer();
  const units = feed(d, packets(pictures));
  assertEquals(units.map((u) => u.nals), pictures);
  assertEquals(units.map((u) => [u.timestamp, u.keyframe]), [[0, true], [3000, false], [6000, false]]);
  assertEquals([d.sps, d.pps, d.dropped, d.malformed], [SPS, PPS, 0, 0]);
});

Deno.test("H264Depacketizer splits STAP-A aggregates and waits for a keyframe first", () => {
  const d = new H264Depacketizer();
  const stap = new Uint8Array([24, 0, SPS.length, ...SPS, 0, PPS.length, ...PPS]);
  assertEquals(d.push(slice(1, 100, 1), 1, 0, true), [], "a P picture before any keyframe is not decodable");
  assertEquals(d.dropped, 1);
  assertEquals(d.push(stap, 2, 3000, false), []);
  const idr = slice(5, 100, 2);
  assertEquals(d.push(idr, 3, 3000, true), [{ timestamp: 3000, nals: [SPS, PPS, idr], keyframe: true }]);
});

Deno.test("H264Depacketizer drops the picture that lost a packet and the ones after it until the next keyframe", () => {
  const pictures = [[slice(5, 1000, 1)], [slice(1, 1000, 2)], [slice(1, 1000, 3)], [slice(5, 1000, 4)]];
  const pkts = packets(pictures);
  // Picture 1 (the second) loses its second fragment.
  const lostAt = pkts.findIndex((p) => rtpTimestamp(p) === 3000) + 1;
  const d = new H264Depacketizer();
  const units = feed(d, pkts.filter((_, i) => i !== lostAt));
  assertEquals(units.map((u) => u.timestamp), [0, 9000]);
  assertEquals(d.dropped, 2);
});

Deno.test("H264Depacketizer never throws on arbitrary payloads, and bounds what it gathers (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.boolean(), fc.nat(3)), { maxLength: 200 }),
      (input) => {
        const d = new H264Depacketizer();
        let seq = 0;
        let ts = 0;
        for (const [payload, marker, step] of input) {
          ts += step * 3000;
          for (const u of d.push(payload, seq++ & 0xffff, ts, marker)) {
            if (u.nals.length === 0) throw new Error("an empty picture");
          }
        }
      },
    ),
  );
});

Deno.test("VideoDepacketizer reads H.265: an aggregation packet of parameter sets, a fragmented IRAP slice", () => {
  const d = new VideoDepacketizer("H265");
  const vps = Uint8Array.of(0x40, 0x01, 0x0c, 0x01);
  const sps = Uint8Array.of(0x42, 0x01, 0x01, 0x01);
  const pps = Uint8Array.of(0x44, 0x01, 0xc1, 0x72);
  const ap = [0x60, 0x01]; // type 48
  for (const n of [vps, sps, pps]) ap.push(0, n.length, ...n);
  assertEquals(d.push(Uint8Array.from(ap), 1, 9000, false), []);
  // An IDR_W_RADL slice (type 19, header 0x26 0x01) in two fragments: payload header type 49, FU header S/E + 19.
  const slice = Uint8Array.from({ length: 10 }, (_, i) => i);
  const first = Uint8Array.of(0x62, 0x01, 0x80 | 19, ...slice.subarray(0, 5));
  const last = Uint8Array.of(0x62, 0x01, 0x40 | 19, ...slice.subarray(5));
  assertEquals(d.push(first, 2, 9000, false), []);
  const [unit] = d.push(last, 3, 9000, true);
  assert(unit && unit.keyframe, "an IRAP picture is a keyframe");
  assertEquals(unit.nals.map((n) => [...n]), [[...vps], [...sps], [...pps], [0x26, 0x01, ...slice]]);
  assertEquals([d.vps?.[0], d.sps?.[0], d.pps?.[0]], [0x40, 0x42, 0x44]);
  // A trailing picture (type 1) after it plays; PACI (50) is not read.
  assertEquals(d.push(Uint8Array.of(0x02, 0x01, 7, 7), 4, 12600, true).length, 1);
  d.push(Uint8Array.of(0x64, 0x01, 0, 0), 5, 16200, true);
  assertEquals(d.malformed, 1);
});
