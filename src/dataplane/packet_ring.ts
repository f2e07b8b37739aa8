/**
 * A ring of datagrams in shared memory, one writer (the fast plane's worker) and one reader (the main thread):
 * the worker copies each packet it forwarded itself into the ring of the packet's socket and posts only a digest
 * (where the packet is, its length, its RTP numbers) instead of the bytes; the main thread copies a packet out
 * only when it needs the bytes (a GOP burst to a joining reader, a reader the worker does not serve yet).
 *
 * Positions are byte counts since the ring was made, modulo 2^32 (a datagram is at `position % size`; the size is
 * a power of two). A datagram never straddles the end: one that would is put at the next multiple of the size.
 * The shared header holds the end of the last reservation: the writer stores it BEFORE it copies a datagram, so a
 * reader that copies a datagram out and then loads it knows whether the writer may have touched those bytes
 * meanwhile (see {@linkcode PacketRing.intact}): a reader never takes a torn or overwritten packet for a good one.
 * The reader also publishes how far it has handled the digests ({@linkcode PacketRing.release}); the worker writes
 * with {@linkcode PacketRing.reserveReleased}, which refuses to overwrite what the reader has not handled yet (the
 * worker then posts that packet's bytes instead), so a lagging main thread never finds a digest's bytes gone. What
 * the reader keeps afterwards (GOP cache references) is protected by the ring's size only.
 * @module
 */

/**
 * Bytes of the shared header before the data: the writer's head (Int32 0) and the reader's released position
 * (Int32 16) on cache lines of their own, off the data's.
 */
export const RING_HEADER = 128;
const RELEASED = 16;
/** Int32 index of the count of reservations refused for lack of released room (the writer's line). */
const REFUSED = 8;
/** Smallest ring. */
export const MIN_RING_BYTES = 4096;
/** Largest ring (positions are 32-bit: a reader must be able to tell an old position from a new one). */
export const MAX_RING_BYTES = 1 << 30;

/** A ring of datagrams over a SharedArrayBuffer. */
export class PacketRing {
  /** The shared memory: {@linkcode RING_HEADER} bytes, then the data. */
  readonly buffer: SharedArrayBuffer;
  /** Bytes of data (a power of two). */
  readonly size: number;
  /** The whole buffer, bytes. */
  readonly bytes: Uint8Array;
  readonly #ctl: Int32Array;
  readonly #mask: number;

  /**
   * @param source the size of a new ring (rounded up to a power of two, at least {@linkcode MIN_RING_BYTES}), or
   *   the buffer of an existing one (the worker's side of a ring the main thread made)
   * @throws RangeError for a size above {@linkcode MAX_RING_BYTES} or a buffer that is no ring
   */
  constructor(source: number | SharedArrayBuffer) {
    if (typeof source === "number") {
      if (!(source <= MAX_RING_BYTES)) throw new RangeError(`A packet ring of ${source} bytes is too large`);
      let size = MIN_RING_BYTES;
      while (size < source) size *= 2;
      this.buffer = new SharedArrayBuffer(RING_HEADER + size);
    } else {
      const size = source.byteLength - RING_HEADER;
      if (size < MIN_RING_BYTES || size > MAX_RING_BYTES || (size & (size - 1)) !== 0) {
        throw new RangeError(`A buffer of ${source.byteLength} bytes is no packet ring`);
      }
      this.buffer = source;
    }
    this.size = this.buffer.byteLength - RING_HEADER;
    this.#mask = this.size - 1;
    this.bytes = new Uint8Array(this.buffer);
    this.#ctl = new Int32Array(this.buffer, 0, RELEASED + 1);
  }

  /** The end of the last reservation (the position the next datagram goes at, or before a wrap). */
  get head(): number {
    return Atomics.load(this.#ctl, 0) >>> 0;
  }

  /** Offset in {@linkcode bytes} of the datagram at `position`. */
  offsetOf(position: number): number {
    return RING_HEADER + (position & this.#mask);
  }

  /**
   * Writer side: reserves `length` bytes for the next datagram and publishes the reservation; copy the datagram
   * to {@linkcode offsetOf} the position afterwards.
   * @returns the datagram's position, or -1 when it is larger than the ring (not stored)
   */
  reserve(length: number): number {
    if (length > this.size || length < 0) return -1;
    let position = Atomics.load(this.#ctl, 0) >>> 0;
    const offset = position & this.#mask;
    if (offset + length > this.size) position = (position + this.size - offset) >>> 0;
    Atomics.store(this.#ctl, 0, (position + length) | 0);
    return position;
  }

  /**
   * Writer side: {@linkcode reserve}, unless the datagram would overwrite bytes the reader has not
   * {@linkcode release}d yet.
   * @returns the datagram's position, or -1 (nothing reserved)
   */
  reserveReleased(length: number): number {
    if (length > this.size || length < 0) return -1;
    let position = Atomics.load(this.#ctl, 0) >>> 0;
    const offset = position & this.#mask;
    if (offset + length > this.size) position = (position + this.size - offset) >>> 0;
    const end = (position + length) >>> 0;
    if (((end - (Atomics.load(this.#ctl, RELEASED) >>> 0)) >>> 0) > this.size) {
      Atomics.add(this.#ctl, REFUSED, 1);
      return -1;
    }
    Atomics.store(this.#ctl, 0, end | 0);
    return position;
  }

  /** Reservations {@linkcode reserveReleased} refused because the reader had not released enough (wraps at 2^32). */
  get refused(): number {
    return Atomics.load(this.#ctl, REFUSED) >>> 0;
  }

  /**
   * Reader side: everything before position `end` has been handled (the writer may overwrite it). Positions
   * only move forward: an `end` behind the current one is ignored.
   */
  release(end: number): void {
    const current = Atomics.load(this.#ctl, RELEASED) >>> 0;
    if (((end - current) | 0) > 0) Atomics.store(this.#ctl, RELEASED, end | 0);
  }

  /**
   * Reader side: whether the datagram of `length` bytes at `position` is still the one written there. Call it
   * AFTER copying the bytes out: it then also covers a datagram being written while they were copied.
   */
  intact(position: number, length: number): boolean {
    const ahead = (this.head - position) >>> 0;
    return ahead >= length && ahead <= this.size;
  }

  /**
   * Reader side: a copy of the datagram at `position`, or null when the writer overwrote it (or the position is
   * not one of this ring's).
   */
  copyOut(position: number, length: number): Uint8Array | null {
    if (!this.intact(position, length)) return null;
    const at = this.offsetOf(position);
    const copy = this.bytes.slice(at, at + length);
    return this.intact(position, length) ? copy : null;
  }
}

/**
 * What the main thread learns of a packet the worker forwarded and kept in a ring: where it is and the numbers the
 * track needs. The plane fills one object per socket again for each digest record: read it during the call only.
 */
export interface RingDigest {
  /** The ring the datagram is in; null: its bytes were not kept (the route wanted digests alone). */
  ring: PacketRing | null;
  /** Its position there. */
  position: number;
  /** Its length in bytes. */
  length: number;
  /** Its RTP sequence number, timestamp and SSRC as received. */
  seq: number;
  timestamp: number;
  ssrc: number;
  /** It starts a keyframe (by the codec of the route; false without one). */
  keyframe: boolean;
  /** When the worker received it: absolute milliseconds (`performance.timeOrigin + performance.now()`). */
  arrivalMs: number;
}

/** A digest of nothing yet in `ring`, to be filled record by record (a handler reuses one per socket). */
export function emptyRingDigest(ring: PacketRing | null): RingDigest {
  return { ring, position: 0, length: 0, seq: 0, timestamp: 0, ssrc: 0, keyframe: false, arrivalMs: 0 };
}
