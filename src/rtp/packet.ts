/**
 * Zero-copy reading and in-place writing of the RTP fixed header (RFC 3550 §5.1), and the
 * RTP/RTCP demultiplexing rule of RFC 5761 §4 for a shared port.
 *
 * Everything here works on the caller's `Uint8Array` with plain byte math: no `DataView`, no
 * copies, no allocation. The field accessors (`rtpSequence`, `rtpTimestamp`, ...) assume the
 * buffer already passed {@link isRtpPacket}; on a shorter buffer they return meaningless numbers
 * rather than throw.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * |                           timestamp                           |
 * |           synchronization source (SSRC) identifier            |
 * |            contributing source (CSRC) identifiers             |  CC times
 * |  extension profile (if X)     |  extension length (words)     |
 * ```
 * @module
 */

/** Size of the RTP fixed header, in bytes. */
export const RTP_HEADER_SIZE = 12;

/** The only RTP version this module accepts (bits 0-1 of byte 0). */
export const RTP_VERSION = 2;

/**
 * Offset of the first payload byte: after the fixed header, `4 * CC` CSRC bytes and the header
 * extension when X is set. -1 when the buffer is not a well-formed RTP packet: version not 2,
 * shorter than its own header, or a padding count of 0 or larger than the payload.
 */
export function rtpPayloadOffset(buf: Uint8Array): number {
  return rtpPayloadOffsetAt(buf, 0, buf.length);
}

/**
 * {@linkcode rtpPayloadOffset} of the packet of `length` bytes at `at` in `buf` (no view made: the fast plane's
 * worker checks packets in place), relative to the packet's start.
 */
export function rtpPayloadOffsetAt(buf: Uint8Array, at: number, length: number): number {
  const n = length;
  if (n < RTP_HEADER_SIZE) return -1;
  const b0 = buf[at]!;
  if ((b0 & 0xc0) !== 0x80) return -1;
  let off = RTP_HEADER_SIZE + (b0 & 0x0f) * 4;
  if ((b0 & 0x10) !== 0) {
    if (off + 4 > n) return -1;
    off += 4 + ((buf[at + off + 2]! << 8) | buf[at + off + 3]!) * 4;
  }
  if (off > n) return -1;
  if ((b0 & 0x20) !== 0) {
    const pad = buf[at + n - 1]!;
    if (pad === 0 || off + pad > n) return -1;
  }
  return off;
}

/**
 * Offset one past the last payload byte (the packet length minus the padding count when P is
 * set). -1 when the buffer is not a well-formed RTP packet (see {@link rtpPayloadOffset}).
 */
export function rtpPayloadEnd(buf: Uint8Array): number {
  if (rtpPayloadOffset(buf) < 0) return -1;
  const n = buf.length;
  return (buf[0]! & 0x20) !== 0 ? n - buf[n - 1]! : n;
}

/**
 * True when `buf` is structurally an RTP packet: version 2, at least 12 + 4*CC bytes (plus the
 * header extension when X is set) and a sane padding count. It does not look at the payload
 * type: on a port shared with RTCP, test {@link isRtcpPacket} first.
 */
export function isRtpPacket(buf: Uint8Array): boolean {
  return rtpPayloadOffset(buf) >= 0;
}

/**
 * True when `buf` looks like RTCP rather than RTP on a shared port (RFC 5761 §4): version 2, at
 * least the 4-byte common header, and the second byte (marker bit + payload type in RTP, packet
 * type in RTCP) within 192..223.
 */
export function isRtcpPacket(buf: Uint8Array): boolean {
  if (buf.length < 4 || (buf[0]! & 0xc0) !== 0x80) return false;
  const pt = buf[1]!;
  return pt >= 192 && pt <= 223;
}

/** Sequence number (16 bits, unsigned). */
export function rtpSequence(buf: Uint8Array): number {
  return (buf[2]! << 8) | buf[3]!;
}

/** RTP timestamp (32 bits, unsigned). */
export function rtpTimestamp(buf: Uint8Array): number {
  return ((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0;
}

/** Synchronization source identifier (32 bits, unsigned). */
export function rtpSsrc(buf: Uint8Array): number {
  return ((buf[8]! << 24) | (buf[9]! << 16) | (buf[10]! << 8) | buf[11]!) >>> 0;
}

/** Payload type (7 bits). */
export function rtpPayloadType(buf: Uint8Array): number {
  return buf[1]! & 0x7f;
}

/** Marker bit. */
export function rtpMarker(buf: Uint8Array): boolean {
  return (buf[1]! & 0x80) !== 0;
}

/** Fields written by {@link writeRtpHeader}. */
export interface RtpHeaderFields {
  /** Marker bit (last packet of a video frame). */
  readonly marker: boolean;
  /** Payload type, 0..127. */
  readonly payloadType: number;
  /** Sequence number; reduced modulo 2^16. */
  readonly sequence: number;
  /** RTP timestamp; reduced modulo 2^32. */
  readonly timestamp: number;
  /** SSRC; reduced modulo 2^32. */
  readonly ssrc: number;
}

/**
 * Writes a 12-byte RTP fixed header (V=2, P=0, X=0, CC=0) at `into[offset]`.
 * @returns the number of bytes written, always 12
 * @throws RangeError when fewer than 12 bytes are left at `offset`
 */
export function writeRtpHeader(into: Uint8Array, offset: number, h: RtpHeaderFields): number {
  if (offset < 0 || offset + RTP_HEADER_SIZE > into.length) {
    throw new RangeError(`RTP header needs 12 bytes at offset ${offset}, buffer has ${into.length}`);
  }
  const seq = h.sequence;
  const ts = h.timestamp;
  const ssrc = h.ssrc;
  into[offset] = 0x80;
  into[offset + 1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  into[offset + 2] = (seq >>> 8) & 0xff;
  into[offset + 3] = seq & 0xff;
  into[offset + 4] = (ts >>> 24) & 0xff;
  into[offset + 5] = (ts >>> 16) & 0xff;
  into[offset + 6] = (ts >>> 8) & 0xff;
  into[offset + 7] = ts & 0xff;
  into[offset + 8] = (ssrc >>> 24) & 0xff;
  into[offset + 9] = (ssrc >>> 16) & 0xff;
  into[offset + 10] = (ssrc >>> 8) & 0xff;
  into[offset + 11] = ssrc & 0xff;
  return RTP_HEADER_SIZE;
}

/** Rewrites the sequence number in place (reduced modulo 2^16). */
export function setRtpSequence(buf: Uint8Array, seq: number): void {
  buf[2] = (seq >>> 8) & 0xff;
  buf[3] = seq & 0xff;
}

/** Rewrites the RTP timestamp in place (reduced modulo 2^32). */
export function setRtpTimestamp(buf: Uint8Array, ts: number): void {
  buf[4] = (ts >>> 24) & 0xff;
  buf[5] = (ts >>> 16) & 0xff;
  buf[6] = (ts >>> 8) & 0xff;
  buf[7] = ts & 0xff;
}

/** Rewrites the SSRC in place (reduced modulo 2^32). */
export function setRtpSsrc(buf: Uint8Array, ssrc: number): void {
  buf[8] = (ssrc >>> 24) & 0xff;
  buf[9] = (ssrc >>> 16) & 0xff;
  buf[10] = (ssrc >>> 8) & 0xff;
  buf[11] = ssrc & 0xff;
}

/** Rewrites the payload type in place, keeping the marker bit. */
export function setRtpPayloadType(buf: Uint8Array, payloadType: number): void {
  buf[1] = (buf[1]! & 0x80) | (payloadType & 0x7f);
}

/** Sets or clears the marker bit in place, keeping the payload type. */
export function setRtpMarker(buf: Uint8Array, marker: boolean): void {
  buf[1] = marker ? buf[1]! | 0x80 : buf[1]! & 0x7f;
}

/**
 * A renumbering of RTP packets: the SSRC they get and what is added to their sequence numbers (mod 2^16) and
 * timestamps (mod 2^32). Made once per change of numbering, applied to many packets.
 */
export interface RtpRenumber {
  readonly ssrc: number;
  readonly seqDelta: number;
  readonly tsDelta: number;
}

/**
 * Applies `r` to the RTP packet whose fixed header starts at `buf[offset]` (in place; the caller checked that the
 * 12 bytes are there).
 */
export function renumberRtp(buf: Uint8Array, offset: number, r: RtpRenumber): void {
  const seq = (((buf[offset + 2]! << 8) | buf[offset + 3]!) + r.seqDelta) & 0xffff;
  const ts = ((((buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) |
    buf[offset + 7]!) >>> 0) + r.tsDelta) >>> 0;
  const ssrc = r.ssrc;
  buf[offset + 2] = seq >>> 8;
  buf[offset + 3] = seq & 0xff;
  buf[offset + 4] = ts >>> 24;
  buf[offset + 5] = (ts >>> 16) & 0xff;
  buf[offset + 6] = (ts >>> 8) & 0xff;
  buf[offset + 7] = ts & 0xff;
  buf[offset + 8] = ssrc >>> 24;
  buf[offset + 9] = (ssrc >>> 16) & 0xff;
  buf[offset + 10] = (ssrc >>> 8) & 0xff;
  buf[offset + 11] = ssrc & 0xff;
}

/** A random SSRC (RFC 3550 §8: chosen at random so that two sources in a session are unlikely to share one). */
export function randomSsrc(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
