/**
 * Duplicate suppression for a mesh child's ingress: after a re-parent the new parent may repeat packets the old
 * one already delivered (its GOP cache, or in-flight overlap). Every relay keeps the root's sequence numbers, so
 * a packet is a repeat when its number was seen among the last {@linkcode SEQ_WINDOW} or is older than them.
 * Sans-I/O.
 * @module
 */

/** How many recent sequence numbers are remembered. */
export const SEQ_WINDOW = 512;

/** Accepts each RTP sequence number once, tolerating reordering within the window. */
export class SeqWindow {
  readonly #seen = new Uint8Array(65536);
  readonly #ring = new Uint16Array(SEQ_WINDOW);
  #count = 0;
  #head = 0;
  #highest = -1;

  /** True when `seq` is new (and remembers it), false for a repeat or a packet older than the window. */
  accept(seq: number): boolean {
    seq &= 0xffff;
    if (this.#highest >= 0) {
      if (this.#seen[seq]) return false;
      const behind = (this.#highest - seq) & 0xffff;
      if (behind > 0 && behind < 0x8000 && behind >= SEQ_WINDOW) return false;
      if (behind === 0 || behind >= 0x8000) this.#highest = seq;
    } else {
      this.#highest = seq;
    }
    if (this.#count === SEQ_WINDOW) {
      this.#seen[this.#ring[this.#head]!] = 0;
    } else {
      this.#count++;
    }
    this.#ring[this.#head] = seq;
    this.#head = (this.#head + 1) % SEQ_WINDOW;
    this.#seen[seq] = 1;
    return true;
  }

  /** Forgets everything (a new upstream numbering). */
  reset(): void {
    this.#seen.fill(0);
    this.#count = 0;
    this.#head = 0;
    this.#highest = -1;
  }
}
