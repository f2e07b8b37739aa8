/**
 * RTCP (RFC 3550 §6): walking compound packets, parsing sender and receiver reports and BYE, and
 * writing RR, SR, SDES CNAME and BYE packets into a caller's buffer.
 *
 * Parsing never throws: malformed input yields `false` or `null`. Marshalling writes into
 * `into[offset]`, returns the number of bytes written (always a multiple of 4, as RTCP requires)
 * and throws `RangeError` only for caller mistakes (buffer too small, too many report blocks).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |V=2|P|  count  |  packet type  |   length (32-bit words - 1)   |
 * ```
 * @module
 */

/** Sender report packet type. */
export const RTCP_SR = 200;
/** Receiver report packet type. */
export const RTCP_RR = 201;
/** Source description packet type. */
export const RTCP_SDES = 202;
/** Goodbye packet type. */
export const RTCP_BYE = 203;
/** Application-defined packet type. */
export const RTCP_APP = 204;
/** Transport-layer feedback (RFC 4585, e.g. generic NACK). */
export const RTCP_RTPFB = 205;
/** Payload-specific feedback (RFC 4585, e.g. PLI, FIR). */
export const RTCP_PSFB = 206;

/** SDES item type of the canonical name. */
export const SDES_CNAME = 1;

/** Size of one report block, in bytes. */
export const RTCP_REPORT_BLOCK_SIZE = 24;

/** Most report blocks (or SDES chunks, or BYE sources) one packet can count in 5 bits. */
export const RTCP_MAX_COUNT = 31;

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800;

/** One reception report block (RFC 3550 §6.4.1), as carried by SR and RR. */
export interface ReportBlock {
  /** SSRC of the source this block reports on. */
  ssrc: number;
  /** Fraction of packets lost since the previous report, in 1/256 units (0..255). */
  fractionLost: number;
  /** Cumulative packets lost, signed 24 bits (negative when duplicates outnumber losses). */
  cumulativeLost: number;
  /** Extended highest sequence number received (cycles << 16 | highest sequence). */
  highestSeq: number;
  /** Interarrival jitter, in RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received from the source, 0 if none. */
  lsr: number;
  /** Delay since that SR, in 1/65536 seconds, 0 if none. */
  dlsr: number;
}

/** A parsed or to-be-written receiver report. */
export interface ReceiverReport {
  /** SSRC of the reporter. */
  ssrc: number;
  /** Report blocks, at most 31. */
  reports: readonly ReportBlock[];
}

/** A parsed or to-be-written sender report. */
export interface SenderReport {
  /** SSRC of the sender. */
  ssrc: number;
  /** NTP timestamp, integer seconds since 1900 (32 bits). */
  ntpSec: number;
  /** NTP timestamp, fraction of a second in 1/2^32 units. */
  ntpFrac: number;
  /** RTP timestamp matching the NTP time. */
  rtpTimestamp: number;
  /** Packets sent since the start of transmission. */
  packetCount: number;
  /** Payload octets sent since the start of transmission. */
  octetCount: number;
  /** Report blocks, at most 31. */
  reports: readonly ReportBlock[];
}

/** A parsed BYE packet. */
export interface ByePacket {
  /** Sources leaving. */
  ssrcs: number[];
  /** Reason for leaving, when given. */
  reason?: string;
}

/**
 * Called once per packet of a compound by {@link forEachRtcpPacket}.
 * `packet` is a view of the whole packet (header included, padding included); `count` is the
 * 5-bit count/subtype field. Returning `false` stops the walk.
 */
export type RtcpPacketVisitor = (type: number, packet: Uint8Array, count: number) => void | boolean;

function u32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

function putHeader(buf: Uint8Array, off: number, count: number, type: number, size: number): void {
  const words = size / 4 - 1;
  buf[off] = 0x80 | (count & 0x1f);
  buf[off + 1] = type;
  buf[off + 2] = (words >>> 8) & 0xff;
  buf[off + 3] = words & 0xff;
}

function need(into: Uint8Array, offset: number, size: number, what: string): void {
  if (offset < 0 || offset + size > into.length) {
    throw new RangeError(`${what} needs ${size} bytes at offset ${offset}, buffer has ${into.length}`);
  }
}

/**
 * True when `buf` is a well-formed compound (or single) RTCP packet: every packet is version 2,
 * its length field fits the remaining bytes, the lengths add up to the buffer exactly, and only
 * the last packet may carry padding, with a count between 1 and its body length.
 */
export function isValidRtcpCompound(buf: Uint8Array): boolean {
  const n = buf.length;
  if (n < 4) return false;
  let off = 0;
  while (off < n) {
    if (off + 4 > n) return false;
    const b0 = buf[off]!;
    if ((b0 & 0xc0) !== 0x80) return false;
    const len = (((buf[off + 2]! << 8) | buf[off + 3]!) + 1) * 4;
    if (off + len > n) return false;
    if ((b0 & 0x20) !== 0) {
      if (off + len !== n) return false;
      const pad = buf[off + len - 1]!;
      if (pad === 0 || pad > len - 4) return false;
    }
    off += len;
  }
  return true;
}

/**
 * Walks a compound RTCP packet, calling `fn` for each packet in order. The whole buffer is
 * validated first ({@link isValidRtcpCompound}), so `fn` never sees part of a malformed compound.
 * @returns false when the buffer is malformed (and `fn` was not called), true otherwise
 */
export function forEachRtcpPacket(buf: Uint8Array, fn: RtcpPacketVisitor): boolean {
  if (!isValidRtcpCompound(buf)) return false;
  let off = 0;
  while (off < buf.length) {
    const len = (((buf[off + 2]! << 8) | buf[off + 3]!) + 1) * 4;
    if (fn(buf[off + 1]!, buf.subarray(off, off + len), buf[off]! & 0x1f) === false) break;
    off += len;
  }
  return true;
}

/** End of a single packet's content (its declared length minus padding), or -1 if malformed. */
function contentEnd(pkt: Uint8Array, type: number): number {
  if (pkt.length < 4 || (pkt[0]! & 0xc0) !== 0x80 || pkt[1] !== type) return -1;
  const len = (((pkt[2]! << 8) | pkt[3]!) + 1) * 4;
  if (len > pkt.length) return -1;
  if ((pkt[0]! & 0x20) === 0) return len;
  const pad = pkt[len - 1]!;
  return pad === 0 || pad > len - 4 ? -1 : len - pad;
}

function readBlocks(pkt: Uint8Array, off: number, count: number): ReportBlock[] {
  const out: ReportBlock[] = [];
  for (let i = 0; i < count; i++, off += RTCP_REPORT_BLOCK_SIZE) {
    let lost = (pkt[off + 5]! << 16) | (pkt[off + 6]! << 8) | pkt[off + 7]!;
    if ((lost & 0x800000) !== 0) lost -= 0x1000000;
    out.push({
      ssrc: u32(pkt, off),
      fractionLost: pkt[off + 4]!,
      cumulativeLost: lost,
      highestSeq: u32(pkt, off + 8),
      jitter: u32(pkt, off + 12),
      lsr: u32(pkt, off + 16),
      dlsr: u32(pkt, off + 20),
    });
  }
  return out;
}

/**
 * Parses one sender report (a packet view as given by {@link forEachRtcpPacket}). Profile-specific
 * extensions after the report blocks are ignored.
 * @returns null when the packet is not a well-formed SR
 */
export function parseSenderReport(pkt: Uint8Array): SenderReport | null {
  const end = contentEnd(pkt, RTCP_SR);
  const count = pkt[0]! & 0x1f;
  if (end < 0 || 28 + count * RTCP_REPORT_BLOCK_SIZE > end) return null;
  return {
    ssrc: u32(pkt, 4),
    ntpSec: u32(pkt, 8),
    ntpFrac: u32(pkt, 12),
    rtpTimestamp: u32(pkt, 16),
    packetCount: u32(pkt, 20),
    octetCount: u32(pkt, 24),
    reports: readBlocks(pkt, 28, count),
  };
}

/**
 * Parses one receiver report. Profile-specific extensions after the report blocks are ignored.
 * @returns null when the packet is not a well-formed RR
 */
export function parseReceiverReport(pkt: Uint8Array): ReceiverReport | null {
  const end = contentEnd(pkt, RTCP_RR);
  const count = pkt[0]! & 0x1f;
  if (end < 0 || 8 + count * RTCP_REPORT_BLOCK_SIZE > end) return null;
  return { ssrc: u32(pkt, 4), reports: readBlocks(pkt, 8, count) };
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Parses one BYE packet: the leaving sources and the optional reason.
 * @returns null when the packet is not a well-formed BYE
 */
export function parseBye(pkt: Uint8Array): ByePacket | null {
  const end = contentEnd(pkt, RTCP_BYE);
  const count = pkt[0]! & 0x1f;
  const reasonAt = 4 + count * 4;
  if (end < 0 || reasonAt > end) return null;
  const ssrcs: number[] = [];
  for (let off = 4; off < reasonAt; off += 4) ssrcs.push(u32(pkt, off));
  if (reasonAt >= end) return { ssrcs };
  const len = pkt[reasonAt]!;
  if (reasonAt + 1 + len > end) return null;
  return { ssrcs, reason: decoder.decode(pkt.subarray(reasonAt + 1, reasonAt + 1 + len)) };
}

/** Middle 32 bits of a 64-bit NTP timestamp: the LSR field of a report block. */
export function ntpMiddle32(ntpSec: number, ntpFrac: number): number {
  return (((ntpSec & 0xffff) << 16) | (ntpFrac >>> 16)) >>> 0;
}

/** NTP timestamp (seconds since 1900 modulo 2^32, fraction in 1/2^32) of a Unix time in seconds. */
export function ntpFromUnixSeconds(unixSeconds: number): { ntpSec: number; ntpFrac: number } {
  const whole = Math.floor(unixSeconds);
  return {
    ntpSec: (whole + NTP_UNIX_OFFSET_SECONDS) % 0x1_0000_0000,
    ntpFrac: Math.floor((unixSeconds - whole) * 0x1_0000_0000) >>> 0,
  };
}

/** Size of a receiver report with `blocks` report blocks, in bytes. */
export function receiverReportSize(blocks: number): number {
  return 8 + blocks * RTCP_REPORT_BLOCK_SIZE;
}

/** Size of a sender report with `blocks` report blocks, in bytes. */
export function senderReportSize(blocks: number): number {
  return 28 + blocks * RTCP_REPORT_BLOCK_SIZE;
}

function checkCount(n: number, what: string): void {
  if (n > RTCP_MAX_COUNT) throw new RangeError(`${what}: ${n} entries, at most ${RTCP_MAX_COUNT} fit`);
}

function writeBlocks(into: Uint8Array, off: number, reports: readonly ReportBlock[]): void {
  for (const b of reports) {
    const lost = Math.max(-0x800000, Math.min(0x7fffff, Math.trunc(b.cumulativeLost))) & 0xffffff;
    put32(into, off, b.ssrc);
    into[off + 4] = Math.max(0, Math.min(255, b.fractionLost));
    into[off + 5] = lost >>> 16;
    into[off + 6] = (lost >>> 8) & 0xff;
    into[off + 7] = lost & 0xff;
    put32(into, off + 8, b.highestSeq);
    put32(into, off + 12, b.jitter);
    put32(into, off + 16, b.lsr);
    put32(into, off + 20, b.dlsr);
    off += RTCP_REPORT_BLOCK_SIZE;
  }
}

/**
 * Writes a receiver report. Cumulative loss is clamped to signed 24 bits, fraction lost to 0..255.
 * @returns bytes written ({@link receiverReportSize})
 * @throws RangeError when the buffer is too small or there are more than 31 blocks
 */
export function marshalReceiverReport(into: Uint8Array, offset: number, rr: ReceiverReport): number {
  const n = rr.reports.length;
  checkCount(n, "receiver report");
  const size = receiverReportSize(n);
  need(into, offset, size, "receiver report");
  putHeader(into, offset, n, RTCP_RR, size);
  put32(into, offset + 4, rr.ssrc);
  writeBlocks(into, offset + 8, rr.reports);
  return size;
}

/**
 * Writes a sender report.
 * @returns bytes written ({@link senderReportSize})
 * @throws RangeError when the buffer is too small or there are more than 31 blocks
 */
export function marshalSenderReport(into: Uint8Array, offset: number, sr: SenderReport): number {
  const n = sr.reports.length;
  checkCount(n, "sender report");
  const size = senderReportSize(n);
  need(into, offset, size, "sender report");
  putHeader(into, offset, n, RTCP_SR, size);
  put32(into, offset + 4, sr.ssrc);
  put32(into, offset + 8, sr.ntpSec);
  put32(into, offset + 12, sr.ntpFrac);
  put32(into, offset + 16, sr.rtpTimestamp);
  put32(into, offset + 20, sr.packetCount);
  put32(into, offset + 24, sr.octetCount);
  writeBlocks(into, offset + 28, sr.reports);
  return size;
}

/** Size of an SDES packet with one chunk holding one CNAME item, in bytes (UTF-8 length of `cname`). */
export function sdesCnameSize(cname: string): number {
  return sdesSizeForLength(encoder.encode(cname).length);
}

function sdesSizeForLength(textBytes: number): number {
  // header 4 + ssrc 4 + item type 1 + item length 1 + text, then 1..4 null octets to a 32-bit boundary
  const chunk = 6 + textBytes;
  return 4 + chunk + (4 - (chunk % 4));
}

/**
 * Writes an SDES packet with one chunk: `ssrc` and a CNAME item, terminated and padded with null
 * octets to a 32-bit boundary (RFC 3550 §6.5).
 * @returns bytes written ({@link sdesCnameSize})
 * @throws RangeError when the buffer is too small or the CNAME exceeds 255 UTF-8 bytes
 */
export function marshalSdesCname(into: Uint8Array, offset: number, ssrc: number, cname: string): number {
  const text = encoder.encode(cname);
  if (text.length > 255) throw new RangeError(`CNAME is ${text.length} bytes, at most 255 fit`);
  const size = sdesSizeForLength(text.length);
  need(into, offset, size, "SDES");
  putHeader(into, offset, 1, RTCP_SDES, size);
  put32(into, offset + 4, ssrc);
  into[offset + 8] = SDES_CNAME;
  into[offset + 9] = text.length;
  into.set(text, offset + 10);
  into.fill(0, offset + 10 + text.length, offset + size);
  return size;
}

/**
 * Writes a BYE packet for `ssrcs` (no reason).
 * @returns bytes written (4 + 4 per source)
 * @throws RangeError when the buffer is too small or there are more than 31 sources
 */
export function marshalBye(into: Uint8Array, offset: number, ssrcs: readonly number[]): number {
  checkCount(ssrcs.length, "BYE");
  const size = 4 + 4 * ssrcs.length;
  need(into, offset, size, "BYE");
  putHeader(into, offset, ssrcs.length, RTCP_BYE, size);
  for (let i = 0; i < ssrcs.length; i++) put32(into, offset + 4 + 4 * i, ssrcs[i]!);
  return size;
}

/**
 * A compound packet as RFC 3550 §6.1 requires of a receiver: an RR (empty when `blocks` is) followed
 * by an SDES carrying the CNAME. Allocates the result (RTCP is sent a few times a second at most).
 * @throws RangeError when there are more than 31 blocks or the CNAME exceeds 255 bytes
 */
export function buildReceiverReportCompound(
  ssrc: number,
  cname: string,
  blocks: readonly ReportBlock[],
): Uint8Array {
  checkCount(blocks.length, "receiver report");
  const rrSize = receiverReportSize(blocks.length);
  const out = new Uint8Array(rrSize + sdesCnameSize(cname));
  marshalReceiverReport(out, 0, { ssrc, reports: blocks });
  marshalSdesCname(out, rrSize, ssrc, cname);
  return out;
}
