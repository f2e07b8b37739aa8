/**
 * RTP and RTCP packets for unit tests of the relay's tracks: a minimal RTP packet and a sender report.
 * @module
 */
import { writeRtpHeader } from "../../src/rtp/packet.ts";
import { marshalSenderReport, senderReportSize } from "../../src/rtp/rtcp.ts";

/** A 12-byte RTP header (no marker, payload type 96) and 4 payload bytes of `fill` (e.g. an H.264 NAL header). */
export function testRtp(seq: number, ts: number, ssrc: number, fill = 0x42): Uint8Array {
  const buf = new Uint8Array(16);
  writeRtpHeader(buf, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: ts, ssrc });
  buf.fill(fill, 12);
  return buf;
}

/** A sender report without report blocks, NTP time 3,900,000,000 s and `ntpFrac`. */
export function testSenderReport(
  ssrc: number,
  rtpTs: number,
  counts: { ntpFrac?: number; packetCount?: number; octetCount?: number } = {},
): Uint8Array {
  const buf = new Uint8Array(senderReportSize(0));
  marshalSenderReport(buf, 0, {
    ssrc,
    ntpSec: 3_900_000_000,
    ntpFrac: counts.ntpFrac ?? 0,
    rtpTimestamp: rtpTs,
    packetCount: counts.packetCount ?? 1,
    octetCount: counts.octetCount ?? 1,
    reports: [],
  });
  return buf;
}
