/**
 * Duplicate suppression for a mesh child's ingress: after a re-parent the new parent may repeat packets the old
 * one already delivered (its GOP cache, or in-flight overlap). Every relay forwards the root's numbering, so within
 * one numbering a packet is a repeat when its number was seen among the last {@linkcode SEQ_WINDOW} or is older
 * than them.
 *
 * The numbering belongs to the root's stream, and a new root numbers from its own base: the window follows the
 * numbering's epoch, told by the packets themselves, so that a new root's packets are never dropped as repeats of
 * the old one's, whatever the control plane has said so far:
 * - a new SSRC is a new epoch: the window starts over from it, and the SSRCs it replaced are retired (their late
 *   packets are dropped, never let in to flip the stream back);
 * - the same SSRC landing far behind the window (a root that took over another's SSRC and numbers from another
 *   base) is a new epoch once a second packet follows the first in sequence (RFC 3550 A.1's restart rule); the
 *   first is dropped. (Far ahead needs no rule: a packet ahead is new in either case.)
 * - a retired SSRC comes back only when the caller says its sender is the one to follow (`follow`), and once a
 *   second packet follows the first in sequence: every relay rewrites what it forwards to its own SSRC, so after a
 *   root change the members carried over from the old root forward the old SSRC (with their own continued
 *   numbering) while those that joined the new root at once forward the new one; a child that moves from one of
 *   the latter to one of the former must follow its new parent, not refuse it for ever.
 * Sans-I/O.
 * @module
 */

/** How many recent sequence numbers are remembered. */
export const SEQ_WINDOW = 512;
/** Retired SSRCs remembered per track. */
const RETIRED = 4;

/** Why a packet was not taken. */
export type SeqRefusal = "repeat" | "retired" | "probation";

/** Accepts each RTP sequence number once per numbering epoch, tolerating reordering within the window. */
export class SeqWindow {
  readonly #seen = new Uint8Array(65536);
  readonly #ring = new Uint16Array(SEQ_WINDOW);
  #count = 0;
  #head = 0;
  #highest = -1;
  #ssrc = -1;
  readonly #retired: number[] = [];
  /** The sequence number that would confirm a far jump as a restart, or -1. */
  #badSeq = -1;
  /** A retired SSRC being taken back and the sequence number that would confirm it, or null. */
  #readopt: { ssrc: number; next: number } | null = null;
  /** The RTP timestamp of each remembered number (by number modulo the window), to tell two numberings apart. */
  readonly #slotSeq = new Int32Array(SEQ_WINDOW).fill(-1);
  readonly #slotTs = new Uint32Array(SEQ_WINDOW);
  /** Epochs started so far (the first packet's included). */
  epochs = 0;

  /**
   * True when `seq` is new in its numbering (and remembers it); the reason otherwise.
   * @param seq RTP sequence number
   * @param ssrc RTP SSRC (the numbering's identity); -1 when unknown (tests of numbering alone)
   * @param follow the packet comes from the sender this relay follows now (its parent): a retired SSRC of it is
   *   taken back once a second packet follows the first in sequence
   * @param timestamp the packet's RTP timestamp, remembered with its number (see {@linkcode timestampOf})
   */
  check(seq: number, ssrc = -1, follow = false, timestamp?: number): true | SeqRefusal {
    seq &= 0xffff;
    if (ssrc !== this.#ssrc) {
      if (ssrc >= 0 && this.#retired.includes(ssrc)) {
        const confirmed = follow && this.#readopt?.ssrc === ssrc && this.#readopt.next === seq;
        this.#readopt = follow && !confirmed ? { ssrc, next: (seq + 1) & 0xffff } : null;
        if (!confirmed) return "retired";
        this.#retired.splice(this.#retired.indexOf(ssrc), 1);
      }
      if (this.#ssrc >= 0) {
        this.#retired.push(this.#ssrc);
        if (this.#retired.length > RETIRED) this.#retired.shift();
      }
      this.#restart(ssrc);
    }
    if (this.#highest >= 0) {
      if (this.#seen[seq]) return "repeat";
      const behind = (this.#highest - seq) & 0xffff;
      if (behind > 0 && behind < 0x8000 && behind >= SEQ_WINDOW) {
        // Far behind: a repeat older than the window, or the start of another numbering under this SSRC.
        if (seq !== this.#badSeq) {
          this.#badSeq = (seq + 1) & 0xffff;
          return "probation";
        }
        this.#restart(this.#ssrc);
      }
    }
    if (this.#highest < 0) this.#highest = seq;
    else {
      const behind = (this.#highest - seq) & 0xffff;
      if (behind === 0 || behind >= 0x8000) this.#highest = seq;
    }
    if (this.#count === SEQ_WINDOW) {
      this.#seen[this.#ring[this.#head]!] = 0;
    } else {
      this.#count++;
    }
    this.#ring[this.#head] = seq;
    this.#head = (this.#head + 1) % SEQ_WINDOW;
    this.#seen[seq] = 1;
    if (timestamp !== undefined) {
      this.#slotSeq[seq % SEQ_WINDOW] = seq;
      this.#slotTs[seq % SEQ_WINDOW] = timestamp >>> 0;
    }
    this.#badSeq = -1;
    return true;
  }

  /** The highest number taken in the current numbering (-1 before the first packet). */
  get highest(): number {
    return this.#highest;
  }

  /** The RTP timestamp `seq` was taken with, when it is among the remembered numbers and was given one; else null. */
  timestampOf(seq: number): number | null {
    seq &= 0xffff;
    return this.#seen[seq] && this.#slotSeq[seq % SEQ_WINDOW] === seq
      ? this.#slotTs[seq % SEQ_WINDOW]!
      : null;
  }

  /**
   * Whether a packet from another sender continues the numbering followed: the next number (with a timestamp not
   * before the last one's), or a number already taken with the same timestamp (a sender a little behind); true
   * when nothing was taken yet.
   */
  continuedBy(seq: number, timestamp: number, ssrc: number): boolean {
    if (this.#highest < 0) return true;
    if (ssrc !== this.#ssrc) return false;
    const seen = this.timestampOf(seq);
    if (seen !== null) return seen === timestamp >>> 0;
    if ((seq & 0xffff) !== ((this.#highest + 1) & 0xffff)) return false;
    // The next number with an earlier timestamp is another numbering (re-basing onto a B-frame costs nothing).
    const last = this.timestampOf(this.#highest);
    return last === null || ((timestamp - last) | 0) >= 0;
  }

  /** The SSRC of the numbering followed now (-1 before the first packet). */
  get ssrc(): number {
    return this.#ssrc;
  }

  /** True when `seq` is new (see {@linkcode check}). */
  accept(seq: number, ssrc = -1): boolean {
    return this.check(seq, ssrc) === true;
  }

  /** Forgets everything (a new upstream numbering). */
  reset(): void {
    this.#restart(-1);
    this.#retired.length = 0;
  }

  #restart(ssrc: number): void {
    this.#seen.fill(0);
    this.#slotSeq.fill(-1);
    this.#count = 0;
    this.#head = 0;
    this.#highest = -1;
    this.#ssrc = ssrc;
    this.#badSeq = -1;
    this.epochs++;
  }
}
