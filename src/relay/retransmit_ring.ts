/**
 * A track's recent packets by sequence number, for a mesh child's NACK (per-hop retransmission, see
 * cluster/nack_tracker.ts): bounded by count (a power of two, the slot is `seq & mask`), by age and by bytes.
 * A packet is kept as the track forwarded it, in the readers' numbering: its own buffer (the track hands it over,
 * as to the GOP cache), or a reference into the fast plane's {@linkcode PacketRing} plus the numbers to write on a
 * copy (no bytes held, and a reference the Worker overwrote reads as gone). Cleared at every re-base, as the GOP
 * cache is: a number then means another packet. Sans-I/O: the caller passes the time.
 * @module
 */
import type { PacketRing } from "../dataplane/packet_ring.ts";
import { setRtpSequence, setRtpSsrc, setRtpTimestamp } from "../rtp/packet.ts";

/** Bounds of a {@linkcode RetransmitRing}. */
export interface RetransmitBounds {
  /** Packets kept at most (rounded up to a power of two). @default 2048 */
  packets: number;
  /** Oldest packet served (ms). @default 500 */
  maxAgeMs: number;
  /** Bytes of owned packets held at most. @default 2 MiB */
  maxBytes: number;
}

const DEFAULTS: RetransmitBounds = { packets: 2048, maxAgeMs: 500, maxBytes: 2 * 1024 * 1024 };

/** The recent packets of one track. */
export class RetransmitRing {
  readonly #mask: number;
  readonly #maxAgeMs: number;
  readonly #maxBytes: number;
  /** Per slot: the sequence number it holds, or -1. */
  readonly #seqs: Int32Array;
  readonly #at: Float64Array;
  readonly #packets: Array<Uint8Array | null>;
  /** Fast-plane references: ring, position, length and the numbering to write. */
  readonly #rings: Array<PacketRing | null>;
  readonly #refs: Float64Array;
  #bytes = 0;
  /**
   * Owned packets in arrival order, to enforce the byte bound oldest first: slot x 65536 + sequence number, in a
   * circle as long as the slots (an entry older than that many pushes names a packet its slot no longer holds, or one
   * the byte bound need not reach). Counts of entries pushed and dropped.
   */
  readonly #order: Float64Array;
  #orderHead = 0;
  #orderTail = 0;

  /** @param bounds overrides of the defaults */
  constructor(bounds: Partial<RetransmitBounds> = {}) {
    const b = { ...DEFAULTS, ...bounds };
    let size = 1;
    while (size < b.packets) size <<= 1;
    this.#mask = size - 1;
    this.#maxAgeMs = b.maxAgeMs;
    this.#maxBytes = b.maxBytes;
    this.#seqs = new Int32Array(size).fill(-1);
    this.#at = new Float64Array(size);
    this.#packets = new Array(size).fill(null);
    this.#rings = new Array(size).fill(null);
    this.#refs = new Float64Array(size * 5);
    this.#order = new Float64Array(size);
  }

  /** Owned packets tracked for the byte bound (at most the slot count, however many were pushed). */
  get tracked(): number {
    return this.#orderTail - this.#orderHead;
  }

  /** Bytes of owned packets held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps `packet` (readers' numbering, not changed afterwards) under its sequence number `seq`. */
  push(seq: number, packet: Uint8Array, now: number): void {
    const slot = this.#take(seq, now);
    this.#packets[slot] = packet;
    this.#bytes += packet.length;
    const mask = this.#mask;
    if (this.#orderTail - this.#orderHead > mask) this.#orderHead++;
    this.#order[this.#orderTail++ & mask] = slot * 0x10000 + (seq & 0xffff);
    while (this.#bytes > this.#maxBytes && this.#orderHead < this.#orderTail) {
      const entry = this.#order[this.#orderHead++ & mask]!;
      const oldSlot = Math.floor(entry / 0x10000);
      // The slot may hold a newer packet since: only the one this entry names goes.
      if (this.#seqs[oldSlot] === entry % 0x10000) this.#free(oldSlot);
    }
  }

  /** Keeps a reference to the datagram of `length` bytes at `position` of `ring`, to be written as given. */
  pushRef(
    seq: number,
    ring: PacketRing,
    position: number,
    length: number,
    outTs: number,
    outSsrc: number,
    now: number,
  ): void {
    const slot = this.#take(seq, now);
    this.#rings[slot] = ring;
    const r = slot * 5;
    this.#refs[r] = position;
    this.#refs[r + 1] = length;
    this.#refs[r + 2] = seq;
    this.#refs[r + 3] = outTs;
    this.#refs[r + 4] = outSsrc;
  }

  /** The packet numbered `seq` (a buffer the caller must not change), or null when gone or never held. */
  get(seq: number, now: number): Uint8Array | null {
    seq &= 0xffff;
    const slot = seq & this.#mask;
    if (this.#seqs[slot] !== seq || now - this.#at[slot]! > this.#maxAgeMs) return null;
    const owned = this.#packets[slot];
    if (owned) return owned;
    const ring = this.#rings[slot];
    if (!ring) return null;
    const r = slot * 5;
    const copy = ring.copyOut(this.#refs[r]!, this.#refs[r + 1]!);
    if (copy === null) return null;
    setRtpSequence(copy, this.#refs[r + 2]!);
    setRtpTimestamp(copy, this.#refs[r + 3]!);
    setRtpSsrc(copy, this.#refs[r + 4]!);
    return copy;
  }

  /** Forgets everything (a re-base: the numbers now mean other packets). */
  clear(): void {
    for (let slot = 0; slot <= this.#mask; slot++) this.#free(slot);
    this.#orderHead = 0;
    this.#orderTail = 0;
  }

  /** Empties the slot of `seq` and stamps it; @returns the slot */
  #take(seq: number, now: number): number {
    seq &= 0xffff;
    const slot = seq & this.#mask;
    this.#free(slot);
    this.#seqs[slot] = seq;
    this.#at[slot] = now;
    return slot;
  }

  #free(slot: number): void {
    const owned = this.#packets[slot];
    if (owned) {
      this.#bytes -= owned.length;
      this.#packets[slot] = null;
    }
    this.#rings[slot] = null;
    this.#seqs[slot] = -1;
  }
}
