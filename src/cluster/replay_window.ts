/**
 * Replay protection for sealed mesh packets: each sender numbers its packets 0, 1, 2, ... (one counter for all its
 * destinations, so a receiver sees gaps); a receiver accepts each number once and refuses numbers older than the
 * newest it accepted by {@linkcode REPLAY_WINDOW} or more (IPsec's anti-replay window, RFC 4303 §3.4.3). Only
 * packets that authenticated may be recorded. Sans-I/O.
 * @module
 */

/** How far behind the newest accepted number a packet may arrive (reordering tolerance). */
export const REPLAY_WINDOW = 4096;

/** Accepts each packet number of one sender once. */
export class ReplayWindow {
  readonly #bits = new Uint32Array(REPLAY_WINDOW / 32);
  #highest = -1;

  /** True when `counter` was not accepted before and is not too old; does not record it (see {@link accept}). */
  check(counter: number): boolean {
    if (counter > this.#highest) return true;
    if (this.#highest - counter >= REPLAY_WINDOW) return false;
    const bit = counter % REPLAY_WINDOW;
    return (this.#bits[bit >>> 5]! & (1 << (bit & 31))) === 0;
  }

  /** Records `counter` (call only after {@link check} and authentication succeeded). */
  accept(counter: number): void {
    if (counter > this.#highest) {
      if (counter - this.#highest >= REPLAY_WINDOW) {
        this.#bits.fill(0);
      } else {
        for (let n = this.#highest + 1; n < counter; n++) this.#clear(n % REPLAY_WINDOW);
      }
      this.#highest = counter;
    }
    const bit = counter % REPLAY_WINDOW;
    this.#bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  /** The newest accepted number, -1 before any. */
  get highest(): number {
    return this.#highest;
  }

  #clear(bit: number): void {
    this.#bits[bit >>> 5]! &= ~(1 << (bit & 31));
  }
}
