/**
 * Mesh UDP framing: every packet between relays carries a 6-byte header in front of the RTP/RTCP bytes, so one
 * UDP port per relay (`--mesh-port`) carries every stream and track:
 *
 * ```
 *  0        1        2               6
 * +--------+--------+---------------+-------------------
 * |ver|type| track  |   stream id   | payload (RTP, RTCP or heartbeat)
 * +--------+--------+---------------+-------------------
 * ```
 * `ver` is 1 (high nibble), `type` 0 RTP, 1 RTCP, 2 heartbeat, 3 NACK (low nibble; a child's RTCP generic NACK to
 * its parent, rtp/rtcp_nack.ts, with the stream id of its subscription), 4 gone (the parent's answer naming, in the
 * same format, the numbers asked for that it has moved past without having: the child stops waiting for them). The stream id is chosen by the parent
 * when a child subscribes. A heartbeat's payload is the sender's node name (UTF-8). Sans-I/O.
 * @module
 */
import { renumberRtp, RTP_HEADER_SIZE, type RtpRenumber } from "../rtp/packet.ts";

/** Header bytes in front of every mesh payload. */
export const MESH_HEADER_SIZE = 6;
/** Wire version of this framing. */
export const MESH_VERSION = 1;

/** What a mesh packet carries. */
export type MeshPacketType = "rtp" | "rtcp" | "heartbeat" | "nack" | "gone";

const TYPE_CODES: Record<MeshPacketType, number> = { rtp: 0, rtcp: 1, heartbeat: 2, nack: 3, gone: 4 };
const TYPES: readonly MeshPacketType[] = ["rtp", "rtcp", "heartbeat", "nack", "gone"];
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A decoded mesh packet; `payload` is a view into the datagram unless `owned`. */
export interface MeshPacket {
  readonly type: MeshPacketType;
  readonly track: number;
  readonly streamId: number;
  readonly payload: Uint8Array;
  /** The payload is a buffer of its own (decrypted or copied), which a handler may keep without copying. */
  readonly owned?: boolean;
}

/**
 * Frames a payload: a new buffer of header + payload.
 * @param renumber applied to the copy of an RTP payload (the numbering a mesh child gets; see `Egress.sendRtp`)
 */
export function encodeMeshPacket(
  type: MeshPacketType,
  streamId: number,
  track: number,
  payload: Uint8Array,
  renumber: RtpRenumber | null = null,
): Uint8Array {
  const out = new Uint8Array(MESH_HEADER_SIZE + payload.length);
  encodeMeshPacketInto(out, type, streamId, track, payload, renumber);
  return out;
}

/**
 * Frames a payload into the start of `out` (a caller's reusable buffer): no allocation.
 * @param out at least {@linkcode MESH_HEADER_SIZE} + the payload's length
 * @returns the datagram's length
 * @throws RangeError when the track is outside 0..255 or `out` is too short
 */
export function encodeMeshPacketInto(
  out: Uint8Array,
  type: MeshPacketType,
  streamId: number,
  track: number,
  payload: Uint8Array,
  renumber: RtpRenumber | null = null,
): number {
  if (track < 0 || track > 255 || !Number.isInteger(track)) {
    throw new RangeError(`track ${track} is outside 0..255`);
  }
  const length = MESH_HEADER_SIZE + payload.length;
  if (out.length < length) {
    throw new RangeError(`a mesh datagram of ${length} bytes does not fit in ${out.length}`);
  }
  out[0] = (MESH_VERSION << 4) | TYPE_CODES[type];
  out[1] = track;
  const id = streamId >>> 0;
  out[2] = id >>> 24;
  out[3] = (id >>> 16) & 0xff;
  out[4] = (id >>> 8) & 0xff;
  out[5] = id & 0xff;
  out.set(payload, MESH_HEADER_SIZE);
  if (renumber && type === "rtp" && payload.length >= RTP_HEADER_SIZE) {
    renumberRtp(out, MESH_HEADER_SIZE, renumber);
  }
  return length;
}

/** A heartbeat from `node`. */
export function encodeHeartbeat(node: string): Uint8Array {
  return encodeMeshPacket("heartbeat", 0, 0, encoder.encode(node));
}

/**
 * Decodes a datagram; the payload is a view of it, marked `owned` when the caller hands the datagram over.
 * @returns the packet, or a sentence saying why the datagram is not a mesh packet
 */
export function decodeMeshPacket(datagram: Uint8Array, owned = false): MeshPacket | string {
  if (datagram.length < MESH_HEADER_SIZE) {
    return `datagram of ${datagram.length} bytes is shorter than the header`;
  }
  const version = datagram[0]! >> 4;
  if (version !== MESH_VERSION) return `unsupported mesh version ${version}`;
  const type = TYPES[datagram[0]! & 0x0f];
  if (!type) return `unknown mesh packet type ${datagram[0]! & 0x0f}`;
  const streamId = ((datagram[2]! << 24) | (datagram[3]! << 16) | (datagram[4]! << 8) | datagram[5]!) >>> 0;
  const payload = datagram.subarray(MESH_HEADER_SIZE);
  if (type !== "heartbeat" && payload.length === 0) return `empty ${type} payload`;
  return owned
    ? { type, track: datagram[1]!, streamId, payload, owned }
    : { type, track: datagram[1]!, streamId, payload };
}

/** The node name a heartbeat carries, or null when it is not valid UTF-8 or empty. */
export function heartbeatNode(packet: MeshPacket): string | null {
  if (packet.type !== "heartbeat" || packet.payload.length === 0 || packet.payload.length > 253) return null;
  try {
    return decoder.decode(packet.payload);
  } catch {
    return null;
  }
}
