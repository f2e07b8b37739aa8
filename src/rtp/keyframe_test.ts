/**
 * Tests of the in-place keyframe functions: the offset variants agree with the payload functions on any bytes,
 * and {@linkcode isKeyframeRtpAt} agrees with them on whole packets placed anywhere in a buffer.
 * @module
 */
import { equal } from "node:assert/strict";
import fc from "fast-check";
import { isKeyframeRtpPayload, isKeyframeRtpPayloadAt } from "./h264.ts";
import { isH265KeyframeRtpPayload, isH265KeyframeRtpPayloadAt } from "./h265.ts";
import { isKeyframeRtpAt } from "./keyframe.ts";
import { rtpPayloadOffset } from "./packet.ts";

/** Payloads biased towards the structures the grammars look at (aggregates, fragments, key types). */
const payloadArb = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.tuple(fc.constantFrom(24, 28, 5, 7, 1, 0x60, 0x62, 0x26, 0x40), fc.uint8Array({ maxLength: 40 }))
    .map(([head, rest]) => Uint8Array.of(head, ...rest)),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 3 }))
    .map(([nal, pad]) => Uint8Array.of(24, 0, nal.length + pad, ...nal)),
);

Deno.test("isKeyframeRtpPayloadAt() agrees with isKeyframeRtpPayload() on any bytes at any offset", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 8 }),
      payloadArb,
      fc.uint8Array({ maxLength: 8 }),
      (pre, p, post) => {
        const buf = Uint8Array.of(...pre, ...p, ...post);
        equal(isKeyframeRtpPayloadAt(buf, pre.length, pre.length + p.length), isKeyframeRtpPayload(p));
        equal(
          isH265KeyframeRtpPayloadAt(buf, pre.length, pre.length + p.length),
          isH265KeyframeRtpPayload(p),
        );
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("isKeyframeRtpAt() agrees with the payload functions on whole RTP packets", () => {
  const packetArb = fc.tuple(
    fc.boolean(),
    fc.integer({ min: 0, max: 2 }),
    payloadArb,
    fc.integer({ min: 0, max: 3 }),
  )
    .map(([ext, csrc, payload, pad]) => {
      const head = [0x80 | (pad > 0 ? 0x20 : 0) | (ext ? 0x10 : 0) | csrc, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
      const csrcs = new Array(csrc * 4).fill(7);
      const extension = ext ? [0xbe, 0xde, 0, 1, 1, 2, 3, 4] : [];
      const padding = pad > 0 ? [...new Array(pad - 1).fill(0), pad] : [];
      return Uint8Array.of(...head, ...csrcs, ...extension, ...payload, ...padding);
    });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), packetArb, (pre, packet) => {
      const buf = Uint8Array.of(...pre, ...packet, 0xff);
      const start = rtpPayloadOffset(packet);
      const end = (packet[0]! & 0x20) !== 0 ? packet.length - packet[packet.length - 1]! : packet.length;
      const payload = start < 0 || end <= start ? null : packet.subarray(start, end);
      equal(
        isKeyframeRtpAt("H264", buf, pre.length, packet.length),
        payload !== null && isKeyframeRtpPayload(payload),
      );
      equal(
        isKeyframeRtpAt("H265", buf, pre.length, packet.length),
        payload !== null && isH265KeyframeRtpPayload(payload),
      );
    }),
    { numRuns: 2000 },
  );
  equal(isKeyframeRtpAt("H264", Uint8Array.of(0x80, 96), 0, 2), false); // too short for RTP
});
