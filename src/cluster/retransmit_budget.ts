/**
 * How much a mesh child may make its parent retransmit: credits earned by the stream itself, `ratio` of a
 * retransmission per packet the track received, up to `burst` saved. A child that asks for more (lost packets
 * that were never sent, the same numbers over and over, a flood meant to amplify) is answered up to its credit
 * and the rest is counted as capped, never sent. The stream's own count is the clock: an idle stream earns
 * nothing. Sans-I/O.
 * @module
 */

/** One child's retransmission credit on one track. */
export class RetransmitBudget {
  readonly #ratio: number;
  readonly #burst: number;
  #credits: number;
  #lastPackets = -1;

  /**
   * @param ratio retransmissions allowed per packet of the stream (0.25: at most a quarter of its rate)
   * @param burst most credits saved (what a loss burst can be repaired with at once)
   */
  constructor(ratio: number, burst: number) {
    this.#ratio = ratio;
    this.#burst = burst;
    this.#credits = burst;
  }

  /**
   * Takes credit for up to `asked` retransmissions.
   * @param streamPackets packets the track received so far (a counter that only grows)
   * @returns how many may be sent now
   */
  grant(asked: number, streamPackets: number): number {
    if (this.#lastPackets >= 0 && streamPackets > this.#lastPackets) {
      this.#credits = Math.min(
        this.#burst,
        this.#credits + (streamPackets - this.#lastPackets) * this.#ratio,
      );
    }
    this.#lastPackets = streamPackets;
    const granted = Math.max(0, Math.min(asked, Math.floor(this.#credits)));
    this.#credits -= granted;
    return granted;
  }
}
