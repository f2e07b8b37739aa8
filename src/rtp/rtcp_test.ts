import assert from "node:assert/strict";
import {
  buildReceiverReportCompound,
  forEachRtcpPacket,
  isValidRtcpCompound,
  marshalBye,
  marshalReceiverReport,
  marshalSdesCname,
  marshalSenderReport,
  ntpFromUnixSeconds,
  ntpMiddle32,
  parseBye,
  parseReceiverReport,
  parseSenderReport,
  receiverReportSize,
  type ReportBlock,
  RTCP_BYE,
  RTCP_RR,
  RTCP_SDES,
  RTCP_SR,
  sdesCnameSize,
  senderReportSize,
} from "./rtcp.ts";

/** Bytes from hex strings; each argument is one field, annotated where it is written. */
function hex(...fields: string[]): Uint8Array {
  const h = fields.join("");
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const SR_ONE_BLOCK = [
  "81", // v=2, p=0, count=1, SR
  "c8", // pt=200 SR
  "000c", // length=12 words (52 bytes)
  "11223344", // sender ssrc
  "e8f1a2b3", // ntp seconds
  "80000000", // ntp fraction = 0.5 s
  "00015f90", // rtp timestamp = 90000
  "0000000a", // packet count = 10
  "00000400", // octet count = 1024
  "55667788", // block: source ssrc
  "40", // block: fraction lost = 64/256
  "fffffe", // block: cumulative lost = -2 (signed 24)
  "0001fffe", // block: extended highest seq = 1 cycle, seq 65534
  "00000020", // block: jitter = 32
  "a2b38000", // block: lsr
  "00010000", // block: dlsr = 1 s
];

const RR_EMPTY = [
  "80", // v=2, p=0, count=0, RR
  "c9", // pt=201 RR
  "0001", // length=1 word
  "0badcafe", // reporter ssrc
];

const SDES_CNAME_AB = [
  "81", // v=2, p=0, count=1 chunk, SDES
  "ca", // pt=202 SDES
  "0003", // length=3 words (16 bytes)
  "0badcafe", // chunk ssrc
  "01", // item type CNAME
  "02", // item length 2
  "6162", // "ab"
  "00000000", // terminating null + pad: 8 bytes of item are aligned, so a whole null word
];

Deno.test("rtcp: parses a sender report with one block", () => {
  const sr = parseSenderReport(hex(...SR_ONE_BLOCK));
  assert.deepEqual(sr, {
    ssrc: 0x11223344,
    ntpSec: 0xe8f1a2b3,
    ntpFrac: 0x80000000,
    rtpTimestamp: 90000,
    packetCount: 10,
    octetCount: 1024,
    reports: [{
      ssrc: 0x55667788,
      fractionLost: 64,
      cumulativeLost: -2,
      highestSeq: 0x1fffe,
      jitter: 32,
      lsr: 0xa2b38000,
      dlsr: 0x10000,
    }],
  });
  // The block count claims more than the length holds.
  const bad = hex(...SR_ONE_BLOCK);
  bad[0] = 0x82; // v=2, p=0, count=2
  assert.equal(parseSenderReport(bad), null);
  // Not an SR at all.
  assert.equal(parseSenderReport(hex(...RR_EMPTY)), null);
});

Deno.test("rtcp: walks a compound packet and parses RR", () => {
  const compound = hex(...RR_EMPTY, ...SDES_CNAME_AB);
  const seen: Array<[number, number, number]> = [];
  assert.equal(
    forEachRtcpPacket(compound, (type, pkt, count) => void seen.push([type, pkt.length, count])),
    true,
  );
  assert.deepEqual(seen, [[RTCP_RR, 8, 0], [RTCP_SDES, 16, 1]]);
  const rr = parseReceiverReport(compound.subarray(0, 8));
  assert.deepEqual(rr, { ssrc: 0x0badcafe, reports: [] });
  // Returning false stops the walk.
  let calls = 0;
  forEachRtcpPacket(compound, () => {
    calls++;
    return false;
  });
  assert.equal(calls, 1);
});

Deno.test("rtcp: malformed compounds return false without calling back", () => {
  const never = () => assert.fail("visitor must not run");
  // Length field overruns the buffer.
  const overrun = hex(...RR_EMPTY, ...SDES_CNAME_AB);
  overrun[11] = 0x04; // SDES length=4 words but only 3 are there
  assert.equal(forEachRtcpPacket(overrun, never), false);
  // Trailing bytes that do not make a header.
  assert.equal(forEachRtcpPacket(hex(...RR_EMPTY, "80c9"), never), false);
  // Wrong version in the second packet.
  const v1 = hex(...RR_EMPTY, ...SDES_CNAME_AB);
  v1[8] = 0x41; // v=1, count=1
  assert.equal(forEachRtcpPacket(v1, never), false);
  // Padding on a packet that is not the last one.
  const pad = hex(...RR_EMPTY, ...SDES_CNAME_AB);
  pad[0] = 0xa0; // v=2, p=1, count=0
  assert.equal(forEachRtcpPacket(pad, never), false);
  assert.equal(forEachRtcpPacket(new Uint8Array(0), never), false);
  assert.equal(forEachRtcpPacket(hex("80c9"), never), false);
});

Deno.test("rtcp: padding on the last packet is accepted and excluded", () => {
  const padded = hex(
    "a0", // v=2, p=1, count=0, RR
    "c9", // pt=201 RR
    "0002", // length=2 words
    "0badcafe", // reporter ssrc
    "00000004", // padding: 4 bytes, count in the last one
  );
  assert.equal(isValidRtcpCompound(padded), true);
  assert.deepEqual(parseReceiverReport(padded), { ssrc: 0x0badcafe, reports: [] });
  padded[11] = 9; // padding count past the body
  assert.equal(isValidRtcpCompound(padded), false);
  assert.equal(parseReceiverReport(padded), null);
});

Deno.test("rtcp: marshals an RR byte for byte and round-trips it", () => {
  const block: ReportBlock = {
    ssrc: 0x55667788,
    fractionLost: 64,
    cumulativeLost: -2,
    highestSeq: 0x1fffe,
    jitter: 32,
    lsr: 0xa2b38000,
    dlsr: 0x10000,
  };
  const buf = new Uint8Array(40);
  const n = marshalReceiverReport(buf, 4, { ssrc: 0x0badcafe, reports: [block] });
  assert.equal(n, receiverReportSize(1));
  assert.equal(n, 32);
  assert.deepEqual(
    buf.subarray(4, 4 + n),
    hex(
      "81", // v=2, p=0, count=1, RR
      "c9", // pt=201 RR
      "0007", // length=7 words
      "0badcafe", // reporter ssrc
      "55667788", // block: source ssrc
      "40", // block: fraction lost
      "fffffe", // block: cumulative lost = -2
      "0001fffe", // block: extended highest seq
      "00000020", // block: jitter
      "a2b38000", // block: lsr
      "00010000", // block: dlsr
    ),
  );
  assert.deepEqual(parseReceiverReport(buf.subarray(4, 4 + n)), { ssrc: 0x0badcafe, reports: [block] });
  assert.throws(() => marshalReceiverReport(buf, 10, { ssrc: 1, reports: [block] }), RangeError);
});

Deno.test("rtcp: cumulative lost is clamped to signed 24 bits", () => {
  const base = { ssrc: 1, fractionLost: 0, highestSeq: 0, jitter: 0, lsr: 0, dlsr: 0 };
  const buf = new Uint8Array(receiverReportSize(2));
  marshalReceiverReport(buf, 0, {
    ssrc: 9,
    reports: [{ ...base, cumulativeLost: 1e9 }, { ...base, cumulativeLost: -1e9 }],
  });
  const rr = parseReceiverReport(buf);
  assert.equal(rr?.reports[0]?.cumulativeLost, 0x7fffff);
  assert.equal(rr?.reports[1]?.cumulativeLost, -0x800000);
});

Deno.test("rtcp: marshals an SR and parses it back", () => {
  const sr = {
    ssrc: 0x11223344,
    ntpSec: 0xe8f1a2b3,
    ntpFrac: 0x80000000,
    rtpTimestamp: 90000,
    packetCount: 10,
    octetCount: 1024,
    reports: [{
      ssrc: 0x55667788,
      fractionLost: 64,
      cumulativeLost: -2,
      highestSeq: 0x1fffe,
      jitter: 32,
      lsr: 0xa2b38000,
      dlsr: 0x10000,
    }],
  };
  const buf = new Uint8Array(senderReportSize(1));
  assert.equal(marshalSenderReport(buf, 0, sr), 52);
  assert.deepEqual(buf, hex(...SR_ONE_BLOCK));
  assert.deepEqual(parseSenderReport(buf), sr);
});

Deno.test("rtcp: SDES CNAME is null-terminated and 32-bit padded", () => {
  const buf = new Uint8Array(16);
  assert.equal(marshalSdesCname(buf, 0, 0x0badcafe, "ab"), 16);
  assert.deepEqual(buf, hex(...SDES_CNAME_AB));
  // 6 + 2 = 8 is already aligned, so a whole word of nulls follows.
  assert.equal(sdesCnameSize("ab"), 16);
  // "abcde": 6 + 5 = 11 -> one null.
  assert.equal(sdesCnameSize("abcde"), 16);
  // "abcdef": 6 + 6 = 12 -> four nulls.
  assert.equal(sdesCnameSize("abcdef"), 20);
  const one = new Uint8Array(12).fill(0xff);
  assert.equal(marshalSdesCname(one, 0, 1, "x"), 12);
  assert.deepEqual(
    one,
    hex(
      "81", // v=2, p=0, count=1, SDES
      "ca", // pt=202
      "0002", // length=2 words
      "00000001", // chunk ssrc
      "01", // CNAME
      "01", // length 1
      "78", // "x"
      "00", // terminating null, aligned
    ),
  );
  assert.throws(() => marshalSdesCname(new Uint8Array(400), 0, 1, "x".repeat(256)), RangeError);
  assert.throws(() => marshalSdesCname(new Uint8Array(8), 0, 1, "x"), RangeError);
});

Deno.test("rtcp: BYE marshal and parse, with and without reason", () => {
  const buf = new Uint8Array(12);
  assert.equal(marshalBye(buf, 0, [1, 0xffffffff]), 12);
  assert.deepEqual(
    buf,
    hex(
      "82", // v=2, p=0, count=2, BYE
      "cb", // pt=203
      "0002", // length=2 words
      "00000001", // ssrc 1
      "ffffffff", // ssrc 2
    ),
  );
  assert.deepEqual(parseBye(buf), { ssrcs: [1, 0xffffffff] });
  const withReason = hex(
    "81", // v=2, p=0, count=1, BYE
    "cb", // pt=203
    "0002", // length=2 words
    "00000007", // ssrc 7
    "03", // reason length 3
    "656e64", // "end"
  );
  assert.deepEqual(parseBye(withReason), { ssrcs: [7], reason: "end" });
  withReason[8] = 4; // reason longer than the packet
  assert.equal(parseBye(withReason), null);
});

Deno.test("rtcp: receiver compound is RR then SDES", () => {
  const block: ReportBlock = {
    ssrc: 2,
    fractionLost: 1,
    cumulativeLost: 3,
    highestSeq: 4,
    jitter: 5,
    lsr: 6,
    dlsr: 7,
  };
  const out = buildReceiverReportCompound(0xabcdef01, "relay@host", [block]);
  assert.equal(out.length % 4, 0);
  const types: number[] = [];
  const ok = forEachRtcpPacket(out, (type, pkt) => {
    types.push(type);
    if (type === RTCP_RR) assert.deepEqual(parseReceiverReport(pkt), { ssrc: 0xabcdef01, reports: [block] });
  });
  assert.equal(ok, true);
  assert.deepEqual(types, [RTCP_RR, RTCP_SDES]);
  assert.notEqual(RTCP_SR, RTCP_BYE);
});

Deno.test("rtcp: NTP helpers", () => {
  assert.equal(ntpMiddle32(0x12345678, 0x9abcdef0), 0x56789abc);
  assert.deepEqual(ntpFromUnixSeconds(0), { ntpSec: 2_208_988_800, ntpFrac: 0 });
  assert.deepEqual(ntpFromUnixSeconds(1.25), { ntpSec: 2_208_988_801, ntpFrac: 0x40000000 });
  // 2036-02-07: the NTP era rolls over and seconds wrap to 0.
  assert.equal(ntpFromUnixSeconds(0x1_0000_0000 - 2_208_988_800).ntpSec, 0);
});
