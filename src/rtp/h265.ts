/**
 * H.265 over RTP (RFC 7798): keyframe detection on received payloads.
 *
 * The two-byte NAL unit header carries the type in bits 1..6 of the first byte.
 * @module
 */

/** RTP payload structure: aggregation packet (RFC 7798 §4.4.2). */
export const H265_AP = 48;
/** RTP payload structure: fragmentation unit (RFC 7798 §4.4.3). */
export const H265_FU = 49;

/** NAL unit type of an H.265 NAL unit (or payload header), or -1 when shorter than 2 bytes. */
export function h265NalType(nal: Uint8Array): number {
  return nal.length < 2 ? -1 : (nal[0]! >> 1) & 0x3f;
}

/** True for IRAP pictures (types 16..21: BLA, IDR, CRA) and VPS/SPS/PPS (32..34). */
export function isH265KeyNalType(type: number): boolean {
  return (type >= 16 && type <= 21) || (type >= 32 && type <= 34);
}

/**
 * True when an H.265 RTP payload carries an IRAP picture or a parameter set: as a single NAL unit
 * packet, inside an aggregation packet (48), or as the start fragment (S=1) of a fragmentation
 * unit (49). Assumes `sprop-max-don-diff` is 0 (no DONL/DOND fields), the common case.
 */
export function isH265KeyframeRtpPayload(payload: Uint8Array): boolean {
  return isH265KeyframeRtpPayloadAt(payload, 0, payload.length);
}

/**
 * {@linkcode isH265KeyframeRtpPayload} of the payload `buf[start..end)`, read in place (no view made: the fast
 * plane's worker checks datagrams in its receive slots).
 */
export function isH265KeyframeRtpPayloadAt(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start < 2) return false;
  const type = (buf[start]! >> 1) & 0x3f;
  if (type === H265_AP) {
    let off = start + 2;
    while (off + 2 < end) {
      const size = (buf[off]! << 8) | buf[off + 1]!;
      off += 2;
      if (size < 2 || off + size > end) return false;
      if (isH265KeyNalType((buf[off]! >> 1) & 0x3f)) return true;
      off += size;
    }
    return false;
  }
  if (type === H265_FU) {
    if (end - start < 3) return false;
    const fu = buf[start + 2]!;
    return (fu & 0x80) !== 0 && isH265KeyNalType(fu & 0x3f);
  }
  return isH265KeyNalType(type);
}
