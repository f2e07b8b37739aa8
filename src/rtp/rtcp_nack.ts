/**
 * RTCP generic NACK (RFC 4585 §6.2.1): a transport-layer feedback message (PT 205, FMT 1) naming lost RTP
 * sequence numbers as pairs of a packet id (PID) and a bitmask of the 16 following ones (BLP).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |V=2|P| FMT=1   |    PT=205     |          length               |
 * |                  SSRC of packet sender                        |
 * |                  SSRC of media source                         |
 * |            PID                |             BLP               |  (one or more)
 * ```
 * Sans-I/O; parsing never throws.
 * @module
 */
import { RTCP_RTPFB } from "./rtcp.ts";

/** The feedback message type of a generic NACK within RTPFB. */
export const RTCP_FMT_NACK = 1;

/** A generic NACK, parsed or to be written. */
export interface GenericNack {
  /** SSRC of the relay asking. */
  senderSsrc: number;
  /** SSRC of the media the lost packets belong to. */
  mediaSsrc: number;
  /** Lost sequence numbers, in the order the message names them (PID then its mask, bit 0 first). */
  seqs: number[];
}

/** Bytes of a NACK's fixed part (header and both SSRCs). */
const FIXED = 12;

/**
 * Writes a generic NACK naming `seqs` (each 0..65535; repeats and order are the caller's): consecutive numbers within
 * 16 of a PID share its FCI entry.
 * @returns a new buffer holding the message
 * @throws RangeError when `seqs` is empty
 */
export function encodeGenericNack(nack: GenericNack): Uint8Array {
  if (nack.seqs.length === 0) throw new RangeError("a NACK names at least one sequence number");
  const entries: Array<[number, number]> = [];
  for (const raw of nack.seqs) {
    const seq = raw & 0xffff;
    const last = entries[entries.length - 1];
    const offset = last ? (seq - last[0]) & 0xffff : 0;
    if (last && offset >= 1 && offset <= 16) last[1] |= 1 << (offset - 1);
    else if (!last || offset !== 0) entries.push([seq, 0]);
  }
  const out = new Uint8Array(FIXED + entries.length * 4);
  const view = new DataView(out.buffer);
  out[0] = 0x80 | RTCP_FMT_NACK;
  out[1] = RTCP_RTPFB;
  view.setUint16(2, out.length / 4 - 1);
  view.setUint32(4, nack.senderSsrc >>> 0);
  view.setUint32(8, nack.mediaSsrc >>> 0);
  entries.forEach(([pid, blp], i) => {
    view.setUint16(FIXED + i * 4, pid);
    view.setUint16(FIXED + i * 4 + 2, blp);
  });
  return out;
}

/**
 * Reads a generic NACK: the first RTCP packet of `packet` must be one (any other packet, a compound's later ones, is
 * ignored).
 * @param maxSeqs most sequence numbers read (an FCI of many entries names up to 17 each): the rest are left out
 * @returns the message, or a sentence saying why `packet` is not a generic NACK
 */
export function parseGenericNack(packet: Uint8Array, maxSeqs = 1024): GenericNack | string {
  if (packet.length < FIXED + 4) return `a NACK of ${packet.length} bytes is shorter than ${FIXED + 4}`;
  if (packet[0]! >> 6 !== 2) return `RTCP version ${packet[0]! >> 6}`;
  if (packet[1] !== RTCP_RTPFB || (packet[0]! & 0x1f) !== RTCP_FMT_NACK) {
    return `RTCP packet type ${packet[1]} format ${packet[0]! & 0x1f} is not a generic NACK`;
  }
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const length = (view.getUint16(2) + 1) * 4;
  if (length > packet.length) return `a NACK that claims ${length} bytes of ${packet.length}`;
  if ((packet[0]! & 0x20) !== 0) return "a padded NACK";
  const seqs: number[] = [];
  for (let at = FIXED; at + 4 <= length && seqs.length < maxSeqs; at += 4) {
    const pid = view.getUint16(at);
    const blp = view.getUint16(at + 2);
    seqs.push(pid);
    for (let bit = 0; bit < 16 && seqs.length < maxSeqs; bit++) {
      if ((blp & (1 << bit)) !== 0) seqs.push((pid + bit + 1) & 0xffff);
    }
  }
  return { senderSsrc: view.getUint32(4), mediaSsrc: view.getUint32(8), seqs };
}
