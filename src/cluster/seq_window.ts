/**
 * Duplicate suppression for a mesh child's ingress: after a re-parent the new parent may repeat packets the old
 * one already delivered (in-flight overlap). The mesh carries one numbering per epoch of the root (every member
 * forwards the root's numbering untouched), so within an epoch a packet is a repeat when its number was seen among
 * the last {@linkcode SEQ_WINDOW} or is older than them. The caller starts a new window at each new epoch (the
 * one place the numbering changes, see mesh_source.ts); within one, the packets still guard against the
 * unexpected:
 * - a new SSRC (a root whose track was rebuilt) starts over, and the SSRCs it replaced are retired (their late
 *   packets are dropped, never let in to flip the stream back);
 * - the same SSRC landing far behind the window is a new numbering once a second packet follows the first in
 *   sequence (RFC 3550 A.1's restart rule), so that nothing can leave the window refusing every packet for good;
 *   the first is dropped. (Far ahead needs no rule: a packet ahead is new in either case.)
 * Sans-I/O.
 * @module
 */

/** How many recent sequence numbers are remembered. */
export const SEQ_WINDOW = 512;
/** Retired SSRCs remembered per track. */
const RETIRED = 4;

/** Why a packet was not taken. */
export type SeqRefusal = "repeat" | "retired" | "probation";

/** Accepts each RTP sequence number once per numbering, tolerating reordering within the window. */
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
  /** Numberings started so far (the first packet's included). */
  epochs = 0;

  /**
   * True when `seq` is new in its numbering (and remembers it); the reason otherwise.
   * @param seq RTP sequence number
   * @param ssrc RTP SSRC; -1 when unknown (tests of numbering alone)
   */
  check(seq: number, ssrc = -1): true | SeqRefusal {
    seq &= 0xffff;
    if (ssrc !== this.#ssrc) {
      if (ssrc >= 0 && this.#retired.includes(ssrc)) return "retired";
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
    this.#badSeq = -1;
    return true;
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
    this.#count = 0;
    this.#head = 0;
    this.#highest = -1;
    this.#ssrc = ssrc;
    this.#badSeq = -1;
    this.epochs++;
  }
}
