/**
 * Tests of the upstream RTCP rewrite: SR and SDES renamed to the output SSRC, timestamp shifted, report blocks
 * stripped, BYE/RR withheld, malformed input refused.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  forEachRtcpPacket,
  marshalBye,
  marshalReceiverReport,
  marshalSdesCname,
  marshalSenderReport,
  parseSenderReport,
  RTCP_SDES,
  RTCP_SR,
  sdesCnameSize,
  senderReportSize,
} from "../rtp/rtcp.ts";
import { rewriteUpstreamRtcp } from "./rtcp_rewrite.ts";

const IN = 0x11111111;
const OUT = 0xaaaaaaaa;
const block = { ssrc: 5, fractionLost: 1, cumulativeLost: 2, highestSeq: 3, jitter: 4, lsr: 0, dlsr: 0 };

function compound(...builders: Array<(buf: Uint8Array, off: number) => number>): Uint8Array {
  const buf = new Uint8Array(1500);
  let off = 0;
  for (const b of builders) off += b(buf, off);
  return buf.slice(0, off);
}

const sr = (ssrc: number, blocks = 0) => (buf: Uint8Array, off: number) =>
  marshalSenderReport(buf, off, {
    ssrc,
    ntpSec: 3_900_000_000,
    ntpFrac: 0x80000000,
    rtpTimestamp: 1000,
    packetCount: 10,
    octetCount: 9000,
    reports: Array.from({ length: blocks }, () => block),
  });
const sdes = (ssrc: number, cname: string) => (buf: Uint8Array, off: number) =>
  marshalSdesCname(buf, off, ssrc, cname);
const bye = (ssrc: number) => (buf: Uint8Array, off: number) => marshalBye(buf, off, [ssrc]);
const rr = (ssrc: number) => (buf: Uint8Array, off: number) =>
  marshalReceiverReport(buf, off, { ssrc, reports: [block] });

function types(buf: Uint8Array): number[] {
  const out: number[] = [];
  forEachRtcpPacket(buf, (t) => void out.push(t));
  return out;
}

Deno.test("rewriteUpstreamRtcp renames SR and SDES, shifts the timestamp and strips report blocks", () => {
  const input = compound(sr(IN, 2), sdes(IN, "camera@host"));
  const copy = input.slice();
  const out = rewriteUpstreamRtcp(input, { inSsrc: IN, outSsrc: OUT, tsDelta: 0xffffff00 })!;
  assertEquals(input, copy, "input untouched");
  assertEquals(types(out), [RTCP_SR, RTCP_SDES]);
  let srView: Uint8Array | null = null;
  forEachRtcpPacket(out, (t, p) => {
    if (t === RTCP_SR) srView = p;
  });
  const parsed = parseSenderReport(srView!)!;
  assertEquals(parsed.ssrc, OUT);
  assertEquals(parsed.rtpTimestamp, (1000 + 0xffffff00) >>> 0);
  assertEquals(parsed.reports.length, 0);
  assertEquals([parsed.ntpSec, parsed.ntpFrac, parsed.packetCount], [3_900_000_000, 0x80000000, 10]);
  assertEquals(srView!.length, senderReportSize(0));
  // The SDES chunk keeps the CNAME under the output SSRC.
  const sdesPart = out.subarray(srView!.length);
  assertEquals(sdesPart.length, sdesCnameSize("camera@host"));
  assertEquals(new DataView(sdesPart.buffer, sdesPart.byteOffset).getUint32(4), OUT);
  assertEquals(new TextDecoder().decode(sdesPart.subarray(10, 10 + 11)), "camera@host");
});

Deno.test("rewriteUpstreamRtcp withholds BYE and receiver reports", () => {
  const map = { inSsrc: IN, outSsrc: OUT, tsDelta: 0 };
  assertEquals(types(rewriteUpstreamRtcp(compound(sr(IN), sdes(IN, "c"), bye(IN)), map)!), [
    RTCP_SR,
    RTCP_SDES,
  ]);
  assertEquals(rewriteUpstreamRtcp(compound(rr(IN), sdes(7, "other"), bye(IN)), map), null);
});

Deno.test("rewriteUpstreamRtcp ignores an SR from another SSRC than the synced one", () => {
  const out = rewriteUpstreamRtcp(compound(sr(7), sdes(IN, "c")), { inSsrc: IN, outSsrc: OUT, tsDelta: 0 })!;
  assertEquals(types(out), [RTCP_SDES]);
});

Deno.test("rewriteUpstreamRtcp keeps only the synced source's SDES chunk", () => {
  // Two chunks: another source first, then ours.
  const buf = new Uint8Array(64);
  const a = marshalSdesCname(buf, 0, 7, "x");
  const b = marshalSdesCname(buf, a, IN, "mine");
  // Merge the two single-chunk packets into one two-chunk SDES packet.
  const merged = new Uint8Array(a + b - 4);
  merged.set(buf.subarray(0, a));
  merged.set(buf.subarray(a + 4, a + b), a);
  merged[0] = 0x82;
  new DataView(merged.buffer).setUint16(2, merged.length / 4 - 1);
  const out = rewriteUpstreamRtcp(merged, { inSsrc: IN, outSsrc: OUT, tsDelta: 0 })!;
  assertEquals(out.length, sdesCnameSize("mine"));
  assertEquals(out[0], 0x81);
  assertEquals(new DataView(out.buffer, out.byteOffset).getUint32(4), OUT);
});

Deno.test("rewriteUpstreamRtcp refuses malformed compounds", () => {
  const map = { inSsrc: IN, outSsrc: OUT, tsDelta: 0 };
  const good = compound(sr(IN));
  assertEquals(rewriteUpstreamRtcp(good.subarray(0, 20), map), null);
  const badVersion = good.slice();
  badVersion[0] = 0x40;
  assertEquals(rewriteUpstreamRtcp(badVersion, map), null);
  assertEquals(rewriteUpstreamRtcp(new Uint8Array(0), map), null);
});
