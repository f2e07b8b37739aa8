/**
 * Hands out even/odd UDP port pairs (RTP on the even port, RTCP on the next) from a configured range.
 * @module
 */

/** Allocates RTP/RTCP port pairs; the caller binds them and reports pairs that could not be bound. */
export class PortPairAllocator {
  readonly #first: number;
  readonly #pairs: number;
  readonly #used = new Set<number>();
  #cursor = 0;

  /**
   * @param first first port of the range (even)
   * @param last last port of the range (inclusive)
   */
  constructor(first: number, last: number) {
    if (first % 2 !== 0) throw new RangeError(`Port range must start on an even port, got ${first}`);
    this.#first = first;
    this.#pairs = Math.floor((last - first + 1) / 2);
    if (this.#pairs < 1) throw new RangeError(`Port range ${first}-${last} holds no even/odd pair`);
  }

  /** Number of pairs still free. */
  get free(): number {
    return this.#pairs - this.#used.size;
  }

  /**
   * Reserves the next free pair, round-robin so a just-released pair is reused last.
   * @returns the even RTP port, or null when the range is exhausted
   */
  allocate(): number | null {
    for (let i = 0; i < this.#pairs; i++) {
      const index = (this.#cursor + i) % this.#pairs;
      if (!this.#used.has(index)) {
        this.#used.add(index);
        this.#cursor = (index + 1) % this.#pairs;
        return this.#first + index * 2;
      }
    }
    return null;
  }

  /** Returns a pair to the pool. */
  release(rtpPort: number): void {
    this.#used.delete((rtpPort - this.#first) / 2);
  }
}
