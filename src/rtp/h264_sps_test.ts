/**
 * Tests of the SPS reader on parameter sets x264 wrote (high, high 4:4:4 and constrained baseline profiles; sizes
 * that need cropping) and the demo clip's, against the sizes ffprobe reports; malformed input gives null.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import { avcDecoderConfig, parseSps } from "./h264_sps.ts";
import { splitAnnexB } from "./h264.ts";
import { loadDemoClip } from "../relay/sources/demo.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

Deno.test("parseSps reads the size (after cropping) and codec of x264's parameter sets", () => {
  const cases: [string, number, number, string][] = [
    ["6764001facd9405005bb011000000300100000030320f183196000", 1280, 720, "avc1.64001f"],
    ["67640028acd940780227e5c044000003000400000300c83c60c65800", 1920, 1080, "avc1.640028"],
    ["6764001eacd940a42fe224c044000003000400000300c83c58b65800", 642, 362, "avc1.64001e"],
    ["67f4001e919b281407b60220000003002000000641e2c5b2c000", 640, 480, "avc1.f4001e"],
  ];
  for (const [sps, width, height, codec] of cases) assertEquals(parseSps(hex(sps)), { width, height, codec });
});

Deno.test("parseSps reads the demo clip's SPS as ffprobe does (constrained baseline, 320x240)", async () => {
  const sps = splitAnnexB(await loadDemoClip()).find((n) => (n[0]! & 0x1f) === 7)!;
  assertEquals(parseSps(sps)?.width, 320);
  assertEquals(parseSps(sps)?.height, 240);
});

Deno.test("parseSps gives null for what is not a whole SPS, never a throw (property)", () => {
  assertEquals(parseSps(hex("68ce3c80")), null, "a PPS");
  assertEquals(parseSps(hex("6764001f")), null, "cut short");
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
    const r = parseSps(Uint8Array.of(0x67, ...bytes));
    return r === null || (r.width > 0 && r.height > 0);
  }));
});

Deno.test("avcDecoderConfig lays out one SPS and one PPS as ISO/IEC 14496-15 says", () => {
  const sps = hex("6742c01ed900a047fec8");
  const pps = hex("68ce3c80");
  assertEquals(
    [...avcDecoderConfig(sps, pps)],
    [1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 10, ...sps, 1, 0, 4, ...pps],
  );
});
