import assert from "node:assert/strict";
import {
  H264Packetizer,
  isKeyframeRtpPayload,
  nalType,
  profileLevelId,
  splitAnnexB,
  spropParameterSets,
} from "./h264.ts";
import { rtpMarker, rtpPayloadOffset, rtpPayloadType, rtpSequence, rtpSsrc, rtpTimestamp } from "./packet.ts";

/** Bytes from hex strings; each argument is one field, annotated where it is written. */
function hex(...fields: string[]): Uint8Array {
  const h = fields.join("");
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

Deno.test("h264: splitAnnexB handles 3- and 4-byte start codes and returns views", () => {
  const stream = hex(
    "00000001", // 4-byte start code
    "6742c01e", // SPS: nal header 0x67 (nri=3, type 7), profile 66, constraints 0xc0, level 30
    "000001", // 3-byte start code
    "68ce3c80", // PPS: nal header 0x68 (type 8)
    "00000001", // 4-byte start code (its leading zero is not part of the PPS)
    "65888400", // IDR slice: header 0x65 (type 5), ends with a cabac zero byte (dropped)
    "000001", // start code followed by nothing
  );
  const nals = splitAnnexB(stream);
  assert.equal(nals.length, 3);
  assert.deepEqual(nals[0], hex("6742c01e"));
  assert.deepEqual(nals[1], hex("68ce3c80"));
  assert.deepEqual(nals[2], hex("658884"));
  assert.deepEqual(nals.map(nalType), [7, 8, 5]);
  assert.equal(nals[0]!.buffer, stream.buffer); // a view, not a copy
  assert.equal(nals[0]!.byteOffset, 4);
});

Deno.test("h264: splitAnnexB edge cases", () => {
  assert.deepEqual(splitAnnexB(new Uint8Array(0)), []);
  assert.deepEqual(splitAnnexB(hex("6742")), []); // no start code
  assert.deepEqual(splitAnnexB(hex("ff", "000001", "41")), [hex("41")]); // garbage before the start code
  assert.deepEqual(splitAnnexB(hex("000001", "000001", "41")), [hex("41")]); // empty unit skipped
  assert.deepEqual(splitAnnexB(hex("000001", "41020301", "000001", "4102")), [hex("41020301"), hex("4102")]);
  assert.equal(nalType(new Uint8Array(0)), -1);
});

Deno.test("h264: small NAL units become single NAL unit packets, marker on the last", () => {
  const p = new H264Packetizer({ payloadType: 96, ssrc: 0x01020304, initialSequence: 65535 });
  const out: Uint8Array[] = [];
  const sps = hex("6742c01e");
  const pps = hex("68ce3c80");
  const idr = hex("658884aa");
  p.packetize([sps, pps, new Uint8Array(0), idr], 0x1_0000_0010, (pkt) => out.push(pkt));
  assert.equal(out.length, 3);
  assert.deepEqual(out.map(rtpSequence), [65535, 0, 1]); // wraps at 2^16
  assert.deepEqual(out.map(rtpMarker), [false, false, true]);
  assert.deepEqual(out.map(rtpTimestamp), [0x10, 0x10, 0x10]);
  assert.deepEqual(out.map(rtpSsrc), [0x01020304, 0x01020304, 0x01020304]);
  assert.deepEqual(out.map(rtpPayloadType), [96, 96, 96]);
  assert.deepEqual(
    out[0],
    hex(
      "80", // v=2, p=0, x=0, cc=0
      "60", // m=0, pt=96
      "ffff", // seq=65535
      "00000010", // ts=16
      "01020304", // ssrc
      "6742c01e", // the SPS unit as is
    ),
  );
  assert.equal(p.sequence, 2);
  assert.equal(p.packetCount, 3);
  assert.equal(p.octetCount, 12);
});

Deno.test("h264: a large NAL unit becomes FU-A fragments", () => {
  // mtu 20 -> 8 payload bytes -> 6 body bytes per fragment after indicator and FU header.
  const p = new H264Packetizer({ payloadType: 97, ssrc: 1, mtu: 20, initialSequence: 100 });
  const idr = new Uint8Array(1 + 14);
  idr[0] = 0x65; // f=0, nri=3, type=5
  for (let i = 1; i < idr.length; i++) idr[i] = i;
  const out: Uint8Array[] = [];
  p.packetize([idr], 9000, (pkt) => out.push(pkt));
  assert.equal(out.length, 3); // 14 body bytes = 6 + 6 + 2
  assert.ok(out.every((pkt) => pkt.length <= 20));
  assert.deepEqual(out.map(rtpSequence), [100, 101, 102]);
  assert.deepEqual(out.map(rtpMarker), [false, false, true]);
  assert.deepEqual(
    out[0]!.subarray(12),
    hex(
      "7c", // FU indicator: f=0, nri=3 (0x60), type=28
      "85", // FU header: s=1, e=0, type=5
      "010203040506", // body bytes 1..6
    ),
  );
  assert.deepEqual(
    out[1]!.subarray(12),
    hex(
      "7c", // FU indicator
      "05", // FU header: s=0, e=0, type=5
      "0708090a0b0c", // body bytes 7..12
    ),
  );
  assert.deepEqual(
    out[2]!.subarray(12),
    hex(
      "7c", // FU indicator
      "45", // FU header: s=0, e=1, type=5
      "0d0e", // body bytes 13..14
    ),
  );
  // Reassembling the fragments gives the unit back.
  const body = out.flatMap((pkt) => [...pkt.subarray(14)]);
  assert.deepEqual(new Uint8Array([(0x7c & 0xe0) | (0x85 & 0x1f), ...body]), idr);
  assert.ok(isKeyframeRtpPayload(out[0]!.subarray(rtpPayloadOffset(out[0]!))));
  assert.ok(!isKeyframeRtpPayload(out[1]!.subarray(12)));
});

Deno.test("h264: marker only on the very last fragment of a frame", () => {
  const p = new H264Packetizer({ payloadType: 96, ssrc: 1, mtu: 16, initialSequence: 0 });
  const big = new Uint8Array(9).fill(0x41); // type 1; 8 body bytes, 2 per FU-A (mtu 16 = 12 + 2 + 2)
  const small = hex("4101"); // fits
  const out: Uint8Array[] = [];
  p.packetize([big, small], 0, (pkt) => out.push(pkt));
  assert.deepEqual(out.map(rtpMarker), [false, false, false, false, true]);
  const out2: Uint8Array[] = [];
  p.packetize([small, big], 0, (pkt) => out2.push(pkt));
  assert.deepEqual(out2.map(rtpMarker), [false, false, false, false, true]);
  assert.equal(rtpSequence(out2[4]!), 9);
});

Deno.test("h264: packetizer option checks and random start", () => {
  assert.throws(() => new H264Packetizer({ payloadType: 128, ssrc: 1 }), RangeError);
  assert.throws(() => new H264Packetizer({ payloadType: 96, ssrc: 1, mtu: 14 }), RangeError);
  const p = new H264Packetizer({ payloadType: 96, ssrc: 1 });
  assert.ok(p.sequence >= 0 && p.sequence <= 0xffff);
  assert.equal(p.mtu, 1200);
  assert.equal(p.clockRate, 90000);
  let calls = 0;
  p.packetize([], 0, () => calls++);
  assert.equal(calls, 0);
});

Deno.test("h264: keyframe detection", () => {
  assert.equal(isKeyframeRtpPayload(hex("65", "88")), true); // single NAL, IDR
  assert.equal(isKeyframeRtpPayload(hex("67", "42")), true); // single NAL, SPS
  assert.equal(isKeyframeRtpPayload(hex("68", "ce")), false); // PPS alone
  assert.equal(isKeyframeRtpPayload(hex("41", "9a")), false); // non-IDR slice
  assert.equal(isKeyframeRtpPayload(new Uint8Array(0)), false);
  const stap = hex(
    "18", // STAP-A: f=0, nri=0, type=24
    "0002", // unit size 2
    "0910", // AUD (type 9)
    "0002", // unit size 2
    "6742", // SPS (type 7)
  );
  assert.equal(isKeyframeRtpPayload(stap), true);
  const stapNoKey = hex(
    "18", // STAP-A
    "0002", // unit size 2
    "0910", // AUD
    "0002", // unit size 2
    "68ce", // PPS
  );
  assert.equal(isKeyframeRtpPayload(stapNoKey), false);
  const stapTruncated = hex(
    "18", // STAP-A
    "0009", // unit size 9, more than is there
    "6742", // SPS, cut short
  );
  assert.equal(isKeyframeRtpPayload(stapTruncated), false);
  assert.equal(isKeyframeRtpPayload(hex("7c", "85")), true); // FU-A, s=1, type 5
  assert.equal(isKeyframeRtpPayload(hex("7c", "45")), false); // FU-A, e=1, type 5
  assert.equal(isKeyframeRtpPayload(hex("7c", "81")), false); // FU-A, s=1, type 1
  assert.equal(isKeyframeRtpPayload(hex("7c")), false); // FU-A without header
});

Deno.test("h264: SDP fmtp helpers", () => {
  const sps = hex("6742c01e", "d9");
  const pps = hex("68ce3c80");
  assert.equal(profileLevelId(sps), "42c01e");
  assert.equal(spropParameterSets(sps, pps), "Z0LAHtk=,aM48gA==");
  assert.throws(() => profileLevelId(hex("6742")), RangeError);
});
