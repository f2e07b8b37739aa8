/**
 * The worker's side of digest records (see `RECV_DIGEST` in ./_shared_protocol.ts): for a packet the worker
 * forwarded itself on a route that does not need the main thread promptly, the original bytes go to the route's
 * {@linkcode PacketRing} and the main thread gets only the numbers its track needs. A route without a ring (the
 * track keeps no packet: no GOP cache, no mesh child to repair) gets the numbers alone: no copy, no ring.
 * Private to src/dataplane.
 * @module
 */
import {
  DIGEST_ARRIVAL,
  DIGEST_FLAGS,
  DIGEST_KEYFRAME,
  DIGEST_POSITION,
  DIGEST_SEQ,
  DIGEST_SSRC,
  DIGEST_TIMESTAMP,
} from "./_shared_protocol.ts";
import { PacketRing } from "./packet_ring.ts";
import { isKeyframeRtpAt, type KeyframeCodec } from "../rtp/keyframe.ts";

/** Copies `length` bytes from address `from` to address `to` (libc memcpy: no view per packet). */
export type CopyBytes = (to: number, from: number, length: number) => void;

/** Writes digests of one socket's packets and their bytes to its ring. */
export class DigestWriter {
  readonly ring: PacketRing | null;
  readonly #codec: KeyframeCodec | null;
  readonly #copy: CopyBytes;
  /** Address of the ring's buffer. */
  readonly #ringAddress: number;

  /**
   * @param ring the buffer of the ring the main thread made for the socket's route; null: the bytes are not kept
   * @param codec the keyframe grammar of the track, or null (no keyframes flagged)
   * @param copy memcpy
   * @param addressOf the address of a view's bytes
   */
  constructor(
    ring: SharedArrayBuffer | null,
    codec: KeyframeCodec | null,
    copy: CopyBytes,
    addressOf: (view: Uint8Array) => number,
  ) {
    this.ring = ring ? new PacketRing(ring) : null;
    this.#codec = codec;
    this.#copy = copy;
    this.#ringAddress = this.ring ? addressOf(this.ring.bytes) : 0;
  }

  /**
   * Reserves room for a datagram of `length` bytes, without overwriting what the main thread has not handled.
   * @returns its position (0 without a ring), or -1: no room (the datagram's bytes go to the main thread instead)
   */
  reserve(length: number): number {
    return this.ring ? this.ring.reserveReleased(length) : 0;
  }

  /**
   * Copies the RTP packet of `length` bytes at `at` in `buf` (at address `address`) to `position` of the ring
   * (from {@linkcode reserve}) and writes the digest body of its record at `off` of `stage` (the record's header
   * is the caller's).
   * @param arrivalMs when the batch was received (absolute milliseconds)
   */
  write(
    position: number,
    buf: Uint8Array,
    at: number,
    address: number,
    length: number,
    stage: DataView,
    off: number,
    arrivalMs: number,
  ): void {
    const ring = this.ring;
    if (ring) this.#copy(this.#ringAddress + ring.offsetOf(position), address, length);
    stage.setUint32(off + DIGEST_POSITION, position, true);
    stage.setUint32(off + DIGEST_TIMESTAMP, u32(buf, at + 4), true);
    stage.setUint32(off + DIGEST_SSRC, u32(buf, at + 8), true);
    stage.setUint16(off + DIGEST_SEQ, (buf[at + 2]! << 8) | buf[at + 3]!, true);
    const key = this.#codec !== null && isKeyframeRtpAt(this.#codec, buf, at, length);
    stage.setUint16(off + DIGEST_FLAGS, key ? DIGEST_KEYFRAME : 0, true);
    stage.setFloat64(off + DIGEST_ARRIVAL, arrivalMs, true);
  }
}

function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}
