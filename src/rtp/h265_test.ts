import assert from "node:assert/strict";
import { h265NalType, isH265KeyframeRtpPayload, isH265KeyNalType } from "./h265.ts";

/** Bytes from hex strings; each argument is one field, annotated where it is written. */
function hex(...fields: string[]): Uint8Array {
  const h = fields.join("");
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

Deno.test("h265: NAL type from the two-byte header", () => {
  assert.equal(h265NalType(hex("2601")), 19); // f=0, type=19 IDR_W_RADL, layer 0, tid 1
  assert.equal(h265NalType(hex("4001")), 32); // VPS
  assert.equal(h265NalType(hex("26")), -1);
  assert.deepEqual(
    [15, 16, 21, 22, 31, 32, 34, 35].map(isH265KeyNalType),
    [false, true, true, false, false, true, true, false],
  );
});

Deno.test("h265: single NAL unit packets", () => {
  assert.equal(isH265KeyframeRtpPayload(hex("2601", "af")), true); // IDR_W_RADL
  assert.equal(isH265KeyframeRtpPayload(hex("2a01", "af")), true); // CRA (21)
  assert.equal(isH265KeyframeRtpPayload(hex("4201", "01")), true); // SPS (33)
  assert.equal(isH265KeyframeRtpPayload(hex("4401", "c0")), true); // PPS (34)
  assert.equal(isH265KeyframeRtpPayload(hex("0201", "d0")), false); // TRAIL_R (1)
  assert.equal(isH265KeyframeRtpPayload(hex("4e01", "05")), false); // SEI prefix (39)
  assert.equal(isH265KeyframeRtpPayload(hex("26")), false); // too short
});

Deno.test("h265: aggregation packets", () => {
  const ap = hex(
    "6001", // payload header: type=48 AP, tid=1
    "0003", // unit size 3
    "4e0105", // SEI (39)
    "0003", // unit size 3
    "4001aa", // VPS (32)
  );
  assert.equal(isH265KeyframeRtpPayload(ap), true);
  const apNoKey = hex(
    "6001", // AP
    "0003", // unit size 3
    "0201d0", // TRAIL_R
  );
  assert.equal(isH265KeyframeRtpPayload(apNoKey), false);
  const apTruncated = hex(
    "6001", // AP
    "0010", // unit size 16, more than is there
    "4001", // VPS, cut short
  );
  assert.equal(isH265KeyframeRtpPayload(apTruncated), false);
});

Deno.test("h265: fragmentation units", () => {
  assert.equal(isH265KeyframeRtpPayload(hex("6201", "93", "af")), true); // FU (49), s=1, type 19
  assert.equal(isH265KeyframeRtpPayload(hex("6201", "13", "af")), false); // FU, s=0, type 19
  assert.equal(isH265KeyframeRtpPayload(hex("6201", "53", "af")), false); // FU, e=1, type 19
  assert.equal(isH265KeyframeRtpPayload(hex("6201", "81", "af")), false); // FU, s=1, type 1
  assert.equal(isH265KeyframeRtpPayload(hex("6201")), false); // FU without header
});
