/**
 * The standby root's alignment of its own pull of a camera with the mesh's numbering (issue 17). A camera gives
 * every session the same media (one encoder, one packetizer), but each session its own SSRC, sequence numbers and
 * timestamps, and the root rewrites them once more for the mesh. The payloads are the same bytes, so the standby
 * matches packets of its own pull with the root's copies of them by a digest of the payload, and learns per track
 * the two offsets (sequence number, timestamp) that turn its pull into the root's numbering.
 *
 * Rules that keep a wrong offset out:
 * - only payloads of at least {@linkcode MIN_MATCH_BYTES} are matched (parameter sets and silence repeat, slices
 *   do not), and a digest seen twice on one side within the window is ambiguous and not matched;
 * - an offset is taken once {@linkcode LOCK_MATCHES} matches in a row agree on it; once taken, a match that
 *   disagrees changes nothing unless the next ones agree on a new offset as many times (the camera session of the
 *   standby restarted, or the root re-based).
 * Sans-I/O: packets in, offsets out.
 * @module
 */
import { rtpPayloadEnd, rtpPayloadOffset, rtpSequence, rtpTimestamp } from "../rtp/packet.ts";

/** Payloads shorter than this are not matched (they repeat: SPS/PPS, silence). */
export const MIN_MATCH_BYTES = 64;
/** Matches in a row that must agree before an offset is taken (or changed). */
export const LOCK_MATCHES = 4;
/** Digests remembered per side and track. */
const WINDOW = 512;

/** An offset of one track: add to the local numbering to get the mesh's. */
export interface NumberingOffset {
  readonly seq: number;
  readonly ts: number;
}

/** The digests of one side's recent packets, by slot of a circle (numbers in typed arrays: nothing per packet). */
class Side {
  /** Digest -> its slot. */
  readonly #slots = new Map<number, number>();
  readonly #keys = new Float64Array(WINDOW).fill(-1);
  readonly #seq = new Int32Array(WINDOW);
  readonly #ts = new Float64Array(WINDOW);
  /** Seen more than once in the window: no match. */
  readonly #ambiguous = new Uint8Array(WINDOW);
  #at = 0;

  remember(key: number, seq: number, ts: number): void {
    const known = this.#slots.get(key);
    if (known !== undefined) {
      this.#ambiguous[known] = 1;
      return;
    }
    const slot = this.#at;
    const oldest = this.#keys[slot]!;
    if (oldest >= 0) this.#slots.delete(oldest);
    this.#keys[slot] = key;
    this.#seq[slot] = seq;
    this.#ts[slot] = ts;
    this.#ambiguous[slot] = 0;
    this.#slots.set(key, slot);
    this.#at = (slot + 1) % WINDOW;
  }

  /** The slot of `key` when it was seen exactly once in the window, else -1. */
  once(key: number): number {
    const slot = this.#slots.get(key);
    return slot === undefined || this.#ambiguous[slot] ? -1 : slot;
  }

  seqAt(slot: number): number {
    return this.#seq[slot]!;
  }

  tsAt(slot: number): number {
    return this.#ts[slot]!;
  }

  clear(): void {
    this.#slots.clear();
    this.#keys.fill(-1);
    this.#at = 0;
  }
}

class TrackMatch {
  readonly mesh = new Side();
  readonly local = new Side();
  offset: NumberingOffset | null = null;
  candidate: NumberingOffset | null = null;
  agreeing = 0;
  matches = 0;

  found(seq: number, ts: number): void {
    this.matches++;
    const c = this.candidate;
    if (c && c.seq === seq && c.ts === ts) this.agreeing++;
    else {
      this.candidate = { seq, ts };
      this.agreeing = 1;
    }
    if (this.agreeing >= LOCK_MATCHES) this.offset = this.candidate;
  }
}

/**
 * A digest of the payload (its length, the marker bit, the payload type and up to 128 bytes of it), or -1 when
 * the payload is too short to be matched.
 */
export function payloadDigest(packet: Uint8Array): number {
  const start = rtpPayloadOffset(packet);
  if (start < 0) return -1;
  // Padding is the sender's business; the payload proper is what the camera's packetizer made.
  const end = rtpPayloadEnd(packet);
  const length = end - start;
  if (length < MIN_MATCH_BYTES) return -1;
  let h = 0x811c9dc5 ^ length ^ (packet[1]! << 16);
  const stop = Math.min(end, start + 128);
  for (let i = start; i < stop; i++) h = Math.imul(h ^ packet[i]!, 0x01000193);
  return h >>> 0;
}

/** The alignment of one stream's tracks. */
export class NumberingMatch {
  readonly #tracks: TrackMatch[] = [];

  /** A packet in the mesh's numbering (from a parent). */
  noteMesh(track: number, packet: Uint8Array): void {
    this.#note(track, packet, true);
  }

  /** A packet of this relay's own pull of the camera (in its own numbering). */
  noteLocal(track: number, packet: Uint8Array): void {
    this.#note(track, packet, false);
  }

  /** The offset of `track` (null until one is taken). */
  offset(track: number): NumberingOffset | null {
    return this.#tracks[track]?.offset ?? null;
  }

  /** True when each of the `tracks` first tracks has an offset. */
  aligned(tracks: number): boolean {
    if (tracks === 0) return false;
    for (let i = 0; i < tracks; i++) if (!this.offset(i)) return false;
    return true;
  }

  /** Matches found so far, all tracks. */
  get matches(): number {
    return this.#tracks.reduce((n, t) => n + (t?.matches ?? 0), 0);
  }

  /** Forgets every offset and digest (the mesh's numbering changed: a new epoch). */
  reset(): void {
    this.#tracks.length = 0;
  }

  /** Forgets the local side of every track (this relay's own pull restarted: its numbering may have jumped). */
  resetLocal(): void {
    for (const t of this.#tracks) {
      if (!t) continue;
      t.local.clear();
      t.offset = null;
      t.candidate = null;
      t.agreeing = 0;
    }
  }

  /** Remembers a packet on its side and, when the other side has its payload once, takes the match. */
  #note(track: number, packet: Uint8Array, mesh: boolean): void {
    const key = payloadDigest(packet);
    if (key < 0) return;
    const t = this.#track(track);
    const own = mesh ? t.mesh : t.local;
    const other = mesh ? t.local : t.mesh;
    const seq = rtpSequence(packet);
    const ts = rtpTimestamp(packet);
    own.remember(key, seq, ts);
    const there = other.once(key);
    if (there < 0 || own.once(key) < 0) return;
    // The offset turns the local numbering into the mesh's.
    const seqThere = other.seqAt(there);
    const tsThere = other.tsAt(there);
    if (mesh) t.found((seq - seqThere) & 0xffff, (ts - tsThere) >>> 0);
    else t.found((seqThere - seq) & 0xffff, (tsThere - ts) >>> 0);
  }

  #track(index: number): TrackMatch {
    return this.#tracks[index] ??= new TrackMatch();
  }
}
