/**
 * H.264 over RTP (RFC 6184): Annex B splitting, a packetizer (single NAL unit packets and FU-A)
 * for the demo source, keyframe detection on received payloads for the relay's GOP cache, and
 * the SDP `fmtp` helpers `sprop-parameter-sets` and `profile-level-id`.
 * @module
 */

import { RTP_HEADER_SIZE, writeRtpHeader } from "./packet.ts";

/** NAL unit type of a coded slice of an IDR picture. */
export const H264_NAL_IDR = 5;
/** NAL unit type of a sequence parameter set. */
export const H264_NAL_SPS = 7;
/** NAL unit type of a picture parameter set. */
export const H264_NAL_PPS = 8;
/** RTP payload structure: single-time aggregation packet (RFC 6184 §5.7.1). */
export const H264_STAP_A = 24;
/** RTP payload structure: fragmentation unit without DON (RFC 6184 §5.8). */
export const H264_FU_A = 28;

/**
 * Splits an Annex B byte stream into NAL units: the bytes between 3-byte (`00 00 01`) or 4-byte
 * (`00 00 00 01`) start codes. Returns views into `data`, not copies. Trailing zero bytes of each
 * NAL unit (the leading zero of a 4-byte start code, `trailing_zero_8bits`) are dropped, bytes
 * before the first start code are ignored, empty units are skipped; no start code gives `[]`.
 */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const n = data.length;
  let start = -1;
  let i = 0;
  const push = (from: number, to: number): void => {
    while (to > from && data[to - 1] === 0) to--;
    if (to > from) out.push(data.subarray(from, to));
  };
  while (i + 2 < n) {
    const c = data[i + 2]!;
    // No start code can begin at i, i+1 or i+2 when the third byte is above 1.
    if (c > 1) {
      i += 3;
      continue;
    }
    if (c === 1 && data[i] === 0 && data[i + 1] === 0) {
      if (start >= 0) push(start, i);
      i += 3;
      start = i;
      continue;
    }
    i++;
  }
  if (start >= 0) push(start, n);
  return out;
}

/** NAL unit type (low 5 bits of the header byte), or -1 for an empty unit. */
export function nalType(nal: Uint8Array): number {
  return nal.length === 0 ? -1 : nal[0]! & 0x1f;
}

/** Options of {@link H264Packetizer}. */
export interface H264PacketizerOptions {
  /** RTP payload type, 0..127 (dynamic: 96..127). */
  payloadType: number;
  /** SSRC of the stream. */
  ssrc: number;
  /** Largest RTP packet (header included), in bytes; 15..65535, default 1200. */
  mtu?: number;
  /** First sequence number; random when absent (RFC 3550 §5.1). */
  initialSequence?: number;
  /** RTP clock rate, default 90000 (the only rate RFC 6184 allows). */
  clockRate?: number;
}

/**
 * Turns access units (the NAL units of one frame) into RTP packets: a single NAL unit packet when
 * the unit fits in the MTU, FU-A fragments otherwise. The marker bit is set on the last packet of
 * each access unit; sequence numbers increase by one per packet and wrap at 2^16. Each packet is
 * a fresh `Uint8Array` written once (this feeds the demo source, not the forwarding hot path).
 */
export class H264Packetizer {
  /** RTP payload type. */
  readonly payloadType: number;
  /** SSRC written in every packet. */
  readonly ssrc: number;
  /** Largest packet emitted, header included. */
  readonly mtu: number;
  /** RTP clock rate the caller's timestamps are in. */
  readonly clockRate: number;
  #seq: number;
  #packets = 0;
  #octets = 0;

  /**
   * Creates a packetizer for one stream.
   * @throws RangeError for a payload type outside 0..127 or an MTU outside 15..65535
   */
  constructor(opts: H264PacketizerOptions) {
    const mtu = opts.mtu ?? 1200;
    if (!Number.isInteger(opts.payloadType) || opts.payloadType < 0 || opts.payloadType > 127) {
      throw new RangeError(`payload type ${opts.payloadType} is outside 0..127`);
    }
    if (!Number.isInteger(mtu) || mtu < RTP_HEADER_SIZE + 3 || mtu > 0xffff) {
      throw new RangeError(`MTU ${mtu} is outside 15..65535`);
    }
    this.payloadType = opts.payloadType;
    this.ssrc = opts.ssrc >>> 0;
    this.mtu = mtu;
    this.clockRate = opts.clockRate ?? 90000;
    this.#seq = (opts.initialSequence ?? crypto.getRandomValues(new Uint16Array(1))[0]!) & 0xffff;
  }

  /** Sequence number the next packet will carry. */
  get sequence(): number {
    return this.#seq;
  }

  /** Packets emitted so far (the SR sender's packet count). */
  get packetCount(): number {
    return this.#packets;
  }

  /** Payload octets emitted so far, headers excluded (the SR sender's octet count). */
  get octetCount(): number {
    return this.#octets;
  }

  /**
   * Emits the RTP packets of one access unit, all stamped with `timestamp` (RTP clock units,
   * reduced modulo 2^32). Empty NAL units are skipped; an access unit with none emits nothing.
   */
  packetize(accessUnit: readonly Uint8Array[], timestamp: number, emit: (packet: Uint8Array) => void): void {
    let last = -1;
    for (let i = 0; i < accessUnit.length; i++) if (accessUnit[i]!.length > 0) last = i;
    const maxPayload = this.mtu - RTP_HEADER_SIZE;
    for (let i = 0; i <= last; i++) {
      const nal = accessUnit[i]!;
      if (nal.length === 0) continue;
      const endOfFrame = i === last;
      if (nal.length <= maxPayload) {
        const pkt = this.#packet(nal.length, endOfFrame, timestamp);
        pkt.set(nal, RTP_HEADER_SIZE);
        emit(pkt);
        continue;
      }
      const indicator = (nal[0]! & 0xe0) | H264_FU_A; // F and NRI of the unit, type 28
      const type = nal[0]! & 0x1f;
      const body = nal.subarray(1); // the unit's header byte travels split into indicator + FU header
      const chunk = maxPayload - 2;
      for (let off = 0; off < body.length; off += chunk) {
        const end = Math.min(off + chunk, body.length);
        const isEnd = end === body.length;
        const pkt = this.#packet(2 + end - off, endOfFrame && isEnd, timestamp);
        pkt[RTP_HEADER_SIZE] = indicator;
        pkt[RTP_HEADER_SIZE + 1] = (off === 0 ? 0x80 : 0) | (isEnd ? 0x40 : 0) | type;
        pkt.set(body.subarray(off, end), RTP_HEADER_SIZE + 2);
        emit(pkt);
      }
    }
  }

  #packet(payloadLength: number, marker: boolean, timestamp: number): Uint8Array {
    const pkt = new Uint8Array(RTP_HEADER_SIZE + payloadLength);
    writeRtpHeader(pkt, 0, {
      marker,
      payloadType: this.payloadType,
      sequence: this.#seq,
      timestamp: timestamp >>> 0,
      ssrc: this.ssrc,
    });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#packets++;
    this.#octets += payloadLength;
    return pkt;
  }
}

function isH264Key(type: number): boolean {
  return type === H264_NAL_IDR || type === H264_NAL_SPS;
}

/**
 * True when an H.264 RTP payload starts a decodable picture: a single NAL unit packet of type 5
 * (IDR) or 7 (SPS), a STAP-A aggregating such a unit, or the start fragment (S=1) of a FU-A whose
 * unit is of type 5 (or 7). Malformed aggregates are scanned as far as they are well formed.
 */
export function isKeyframeRtpPayload(payload: Uint8Array): boolean {
  return isKeyframeRtpPayloadAt(payload, 0, payload.length);
}

/**
 * {@linkcode isKeyframeRtpPayload} of the payload `buf[start..end)`, read in place (no view made: the fast
 * plane's worker checks datagrams in its receive slots).
 */
export function isKeyframeRtpPayloadAt(buf: Uint8Array, start: number, end: number): boolean {
  if (end <= start) return false;
  const type = buf[start]! & 0x1f;
  if (type >= 1 && type <= 23) return isH264Key(type);
  if (type === H264_STAP_A) {
    let off = start + 1;
    while (off + 2 < end) {
      const size = (buf[off]! << 8) | buf[off + 1]!;
      off += 2;
      if (size === 0 || off + size > end) return false;
      if (isH264Key(buf[off]! & 0x1f)) return true;
      off += size;
    }
    return false;
  }
  if (type === H264_FU_A) {
    if (end - start < 2) return false;
    const fu = buf[start + 1]!;
    return (fu & 0x80) !== 0 && isH264Key(fu & 0x1f);
  }
  return false;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

/** `sprop-parameter-sets` of an SDP fmtp line: base64 SPS and PPS joined by a comma. */
export function spropParameterSets(sps: Uint8Array, pps: Uint8Array): string {
  return `${base64(sps)},${base64(pps)}`;
}

/**
 * `profile-level-id` of an SDP fmtp line: profile_idc, constraint flags and level_idc (bytes 1..3
 * of the SPS NAL unit, after its header byte) as six lowercase hex digits.
 * @throws RangeError when the SPS is shorter than 4 bytes
 */
export function profileLevelId(sps: Uint8Array): string {
  if (sps.length < 4) throw new RangeError(`SPS of ${sps.length} bytes has no profile and level`);
  let s = "";
  for (let i = 1; i <= 3; i++) s += sps[i]!.toString(16).padStart(2, "0");
  return s;
}
