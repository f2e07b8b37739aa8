/**
 * Rewrites an upstream RTCP compound for readers. Readers see one continuous RTP session with the relay's output
 * SSRC, so what they get of the source's RTCP must match it: the sender report (for lip sync) and SDES (CNAME)
 * are rewritten to the output SSRC and timestamp base; BYE is withheld (the relay's session outlives a camera
 * restart, and ffmpeg ends a stream on BYE); receiver reports and APP packets are the source's business only.
 * Sans-I/O: bytes in, bytes out.
 * @module
 */
import { forEachRtcpPacket, RTCP_SDES, RTCP_SR } from "../rtp/rtcp.ts";

/** The mapping from the upstream RTP session to the one readers see. */
export interface RtcpRewrite {
  /** The SSRC of the upstream RTP the track is synced to. */
  inSsrc: number;
  /** The SSRC readers see. */
  outSsrc: number;
  /** Added to upstream RTP timestamps (mod 2^32). */
  tsDelta: number;
}

/** Size of an SR without report blocks: header, SSRC, NTP (8), RTP timestamp, packet and octet counts. */
const SR_SENDER_INFO_SIZE = 28;

/**
 * The compound to forward to readers, or null when nothing in it is for them (or it is malformed).
 * The input is not modified.
 */
export function rewriteUpstreamRtcp(compound: Uint8Array, map: RtcpRewrite): Uint8Array | null {
  const parts: Uint8Array[] = [];
  const ok = forEachRtcpPacket(compound, (type, packet) => {
    if (type === RTCP_SR) {
      if (packet.length < SR_SENDER_INFO_SIZE) return;
      const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
      if (view.getUint32(4) !== map.inSsrc) return;
      // The sender info only: report blocks describe what the source received, not what readers get.
      const sr = packet.slice(0, SR_SENDER_INFO_SIZE);
      const out = new DataView(sr.buffer);
      sr[0] = 0x80; // V=2, no padding, RC=0
      out.setUint16(2, SR_SENDER_INFO_SIZE / 4 - 1);
      out.setUint32(4, map.outSsrc);
      out.setUint32(16, (view.getUint32(16) + map.tsDelta) >>> 0);
      parts.push(sr);
    } else if (type === RTCP_SDES) {
      const sdes = rewriteSdes(packet, map);
      if (sdes) parts.push(sdes);
    }
  });
  if (!ok || parts.length === 0) return null;
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A copy of an SDES packet keeping only the chunk of `inSsrc`, renamed to `outSsrc`; null when absent. */
function rewriteSdes(packet: Uint8Array, map: RtcpRewrite): Uint8Array | null {
  const padded = (packet[0]! & 0x20) !== 0;
  const end = padded ? packet.length - packet[packet.length - 1]! : packet.length;
  const count = packet[0]! & 0x1f;
  let off = 4;
  for (let i = 0; i < count && off + 4 <= end; i++) {
    const start = off;
    const ssrc =
      ((packet[off]! << 24) | (packet[off + 1]! << 16) | (packet[off + 2]! << 8) | packet[off + 3]!) >>>
      0;
    off += 4;
    // Items until a null octet, then padding to the next 32-bit boundary.
    while (off < end && packet[off] !== 0) off += 2 + (packet[off + 1] ?? 0);
    off = (off + 4) & ~3;
    if (off > end) return null;
    if (ssrc !== map.inSsrc) continue;
    const chunk = packet.subarray(start, off);
    const out = new Uint8Array(4 + chunk.length);
    out.set(chunk, 4);
    out[0] = 0x81; // V=2, one chunk
    out[1] = RTCP_SDES;
    new DataView(out.buffer).setUint16(2, out.length / 4 - 1);
    new DataView(out.buffer).setUint32(4, map.outSsrc);
    return out;
  }
  return null;
}
