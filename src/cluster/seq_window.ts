/**
 * Duplicate suppression for a mesh child's ingress: after a re-parent the new parent may repeat packets the old
 * one already delivered (in-flight overlap). The mesh carries one numbering per epoch of the root (every member
 * forwards the root's numbering untouched), so within an epoch a packet is a repeat when its number was seen among
 * the last {@linkcode SEQ_WINDOW} or is older than them. The caller starts a new window at each new epoch (the
 * one place the numbering changes, see mesh_source.ts); within one, the packets still guard against the
 * unexpected:
 * - a new SSRC (a root whose track was rebuilt) starts over, and the SSRCs it replaced are retired (their late
 *   packets are dropped, never let in to flip the stream back);
 * - a packet far behind the window is old (a GOP burst from a parent of this epoch replays up to a GOP), never the
 *   start of another numbering, unless the window refused such packets, and took nothing, for
 *   {@linkcode STUCK_MS}: then it starts over, so that nothing (a wrap after a long cut, a bogus number) can leave
 *   it refusing every packet for good. (Far ahead needs no rule: a packet ahead is new in either case.)
 * Sans-I/O: the caller passes the time.
 * @module
 */

/** How many recent sequence numbers are remembered. */
export const SEQ_WINDOW = 512;
/** Retired SSRCs remembered per track. */
const RETIRED = 4;
/**
 * How long (ms) the window refuses packets far behind it (or of a retired SSRC), taking none, before it takes them
 * for a new numbering: longer than a paced GOP burst takes to catch up with the numbers already seen.
 */
export const STUCK_MS = 2000;

/** Why a packet was not taken. */
export type SeqRefusal = "repeat" | "retired" | "behind";

/** Accepts each RTP sequence number once per numbering, tolerating reordering within the window. */
export class SeqWindow {
  readonly #seen = new Uint8Array(65536);
  readonly #ring = new Uint16Array(SEQ_WINDOW);
  #count = 0;
  #head = 0;
  #highest = -1;
  #ssrc = -1;
  readonly #retired: number[] = [];
  /** Since when packets far behind (or retired) have been refused with none taken (ms), or -1. */
  #refusingSince = -1;
  /** Numberings started so far (the first packet's included). */
  epochs = 0;

  /**
   * True when `seq` is new in its numbering (and remembers it); the reason otherwise.
   * @param seq RTP sequence number
   * @param ssrc RTP SSRC; -1 when unknown (tests of numbering alone)
   * @param now the time (ms), for {@linkcode STUCK_MS}
   */
  check(seq: number, ssrc = -1, now = 0): true | SeqRefusal {
    seq &= 0xffff;
    if (ssrc !== this.#ssrc) {
      if (ssrc >= 0 && this.#retired.includes(ssrc)) {
        if (!this.#stuck(now)) return "retired";
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
        if (!this.#stuck(now)) return "behind";
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
    this.#refusingSince = -1;
    return true;
  }

  /** True once packets have been refused, and none taken, for {@linkcode STUCK_MS} up to `now`. */
  #stuck(now: number): boolean {
    if (this.#refusingSince < 0) this.#refusingSince = now;
    return now - this.#refusingSince >= STUCK_MS;
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
    this.#refusingSince = -1;
    this.epochs++;
  }
}
