import assert from "node:assert/strict";
import fc from "fast-check";
import {
  isRtcpPacket,
  isRtpPacket,
  RTP_HEADER_SIZE,
  rtpMarker,
  rtpPayloadEnd,
  rtpPayloadOffset,
  rtpPayloadOffsetAt,
  rtpPayloadType,
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
  setRtpMarker,
  setRtpPayloadType,
  setRtpSequence,
  setRtpSsrc,
  setRtpTimestamp,
  writeRtpHeader,
} from "./packet.ts";

/** Bytes from hex strings; each argument is one header field, annotated where it is written. */
function hex(...fields: string[]): Uint8Array {
  const h = fields.join("");
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A minimal packet: fixed header and a 3-byte payload. */
function basic(): Uint8Array {
  return hex(
    "80", // v=2, p=0, x=0, cc=0
    "e0", // m=1, pt=96
    "1234", // seq=0x1234
    "deadbeef", // ts=0xdeadbeef
    "cafebabe", // ssrc=0xcafebabe
    "010203", // payload
  );
}

Deno.test("rtp: reads the fixed header fields", () => {
  const p = basic();
  assert.equal(isRtpPacket(p), true);
  assert.equal(rtpSequence(p), 0x1234);
  assert.equal(rtpTimestamp(p), 0xdeadbeef);
  assert.equal(rtpSsrc(p), 0xcafebabe);
  assert.equal(rtpPayloadType(p), 96);
  assert.equal(rtpMarker(p), true);
  assert.equal(rtpPayloadOffset(p), 12);
  assert.equal(rtpPayloadEnd(p), 15);
});

Deno.test("rtp: rejects wrong version and short buffers", () => {
  const p = basic();
  p[0] = 0x40; // v=1
  assert.equal(isRtpPacket(p), false);
  assert.equal(rtpPayloadOffset(p), -1);
  assert.equal(rtpPayloadEnd(p), -1);
  assert.equal(isRtpPacket(basic().subarray(0, 11)), false);
  assert.equal(isRtpPacket(basic().subarray(0, 12)), true); // empty payload is allowed
  assert.equal(isRtpPacket(new Uint8Array(0)), false);
});

Deno.test("rtp: skips CSRCs and the header extension", () => {
  const p = hex(
    "92", // v=2, p=0, x=1, cc=2
    "60", // m=0, pt=96
    "0001", // seq=1
    "00000002", // ts=2
    "00000003", // ssrc=3
    "0000000a", // csrc[0]=10
    "0000000b", // csrc[1]=11
    "bede", // extension profile 0xBEDE (one-byte headers)
    "0001", // extension length = 1 word
    "10ff0000", // extension data: id=1, len=1, value=0xff, two bytes of padding
    "aa", // payload
  );
  assert.equal(isRtpPacket(p), true);
  assert.equal(rtpPayloadOffset(p), 28);
  assert.equal(rtpPayloadEnd(p), 29);
  assert.equal(rtpMarker(p), false);
  // Cut inside the extension data: the declared length no longer fits.
  assert.equal(isRtpPacket(p.subarray(0, 27)), false);
  // Cut inside the extension header.
  assert.equal(isRtpPacket(p.subarray(0, 22)), false);
  // Cut inside the CSRC list.
  assert.equal(isRtpPacket(p.subarray(0, 19)), false);
});

Deno.test("rtp: padding is excluded from the payload and checked", () => {
  const p = hex(
    "a0", // v=2, p=1, x=0, cc=0
    "60", // m=0, pt=96
    "0001", // seq=1
    "00000002", // ts=2
    "00000003", // ssrc=3
    "1122", // payload
    "000003", // padding: 3 bytes, the count in the last one
  );
  assert.equal(rtpPayloadOffset(p), 12);
  assert.equal(rtpPayloadEnd(p), 14);
  p[16] = 0; // padding count 0 is invalid
  assert.equal(isRtpPacket(p), false);
  p[16] = 6; // more padding than payload
  assert.equal(isRtpPacket(p), false);
  p[16] = 5; // padding eats the whole payload: allowed, empty payload
  assert.equal(rtpPayloadEnd(p), 12);
});

Deno.test("rtp: RFC 5761 demultiplexing by the second byte", () => {
  const rr = hex(
    "80", // v=2, p=0, count=0
    "c9", // pt=201 RR
    "0001", // length=1 word after the header
    "00000001", // ssrc=1
  );
  assert.equal(isRtcpPacket(rr), true);
  assert.equal(isRtcpPacket(basic()), false); // m=1, pt=96 -> 0xe0 = 224
  const p = basic();
  p[1] = 0x80 | 95; // m=1, pt=95 -> 223: counted as RTCP
  assert.equal(isRtcpPacket(p), true);
  p[1] = 0x80 | 64; // m=1, pt=64 -> 192
  assert.equal(isRtcpPacket(p), true);
  p[1] = 0x80 | 63; // 191
  assert.equal(isRtcpPacket(p), false);
  assert.equal(isRtcpPacket(rr.subarray(0, 3)), false);
  rr[0] = 0x40; // v=1
  assert.equal(isRtcpPacket(rr), false);
});

Deno.test("rtp: writeRtpHeader writes 12 bytes at an offset", () => {
  const buf = new Uint8Array(20).fill(0x55);
  const n = writeRtpHeader(buf, 4, {
    marker: true,
    payloadType: 97,
    sequence: 0x1_0002, // reduced to 2
    timestamp: 0x1_0000_0005, // reduced to 5
    ssrc: 0xffffffff,
  });
  assert.equal(n, RTP_HEADER_SIZE);
  assert.deepEqual(
    buf,
    hex(
      "55555555", // untouched prefix
      "80", // v=2, p=0, x=0, cc=0
      "e1", // m=1, pt=97
      "0002", // seq=2
      "00000005", // ts=5
      "ffffffff", // ssrc=0xffffffff
      "55555555", // untouched suffix
    ),
  );
  assert.throws(
    () => writeRtpHeader(buf, 9, { marker: false, payloadType: 0, sequence: 0, timestamp: 0, ssrc: 0 }),
    RangeError,
  );
});

Deno.test("rtp: setters rewrite in place", () => {
  const p = basic();
  setRtpSequence(p, 65535);
  setRtpTimestamp(p, 0xffffffff);
  setRtpSsrc(p, 0x01020304);
  setRtpPayloadType(p, 100);
  assert.equal(rtpSequence(p), 65535);
  assert.equal(rtpTimestamp(p), 0xffffffff);
  assert.equal(rtpSsrc(p), 0x01020304);
  assert.equal(rtpPayloadType(p), 100);
  assert.equal(rtpMarker(p), true);
  setRtpMarker(p, false);
  assert.equal(rtpMarker(p), false);
  assert.equal(rtpPayloadType(p), 100);
  setRtpSequence(p, 65536); // wraps to 0
  assert.equal(rtpSequence(p), 0);
  assert.deepEqual([...p.subarray(12)], [1, 2, 3]); // payload untouched
});

Deno.test("rtpPayloadOffsetAt reads a packet in place inside a larger buffer as rtpPayloadOffset reads it alone", () => {
  const header = fc.record({
    cc: fc.integer({ min: 0, max: 15 }),
    x: fc.boolean(),
    p: fc.boolean(),
    version: fc.constantFrom(0x80, 0x80, 0x40),
    extWords: fc.integer({ min: 0, max: 4 }),
  });
  fc.assert(
    fc.property(
      header,
      fc.uint8Array({ maxLength: 120 }),
      fc.nat(64),
      fc.nat(64),
      (h, body, before, after) => {
        const packet = new Uint8Array(12 + body.length);
        packet.set(body, 12);
        packet[0] = h.version | (h.x ? 0x10 : 0) | (h.p ? 0x20 : 0) | h.cc;
        const extAt = 12 + h.cc * 4;
        if (h.x && extAt + 4 <= packet.length) packet[extAt + 3] = h.extWords;
        const buf = new Uint8Array(before + packet.length + after).fill(0xff);
        buf.set(packet, before);
        assert.equal(rtpPayloadOffsetAt(buf, before, packet.length), rtpPayloadOffset(packet));
      },
    ),
    { numRuns: 2000 },
  );
});
