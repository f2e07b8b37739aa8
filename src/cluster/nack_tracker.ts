/**
 * The child side of per-hop retransmission for one track: which of the parent's packets are missing, when to ask
 * for them (RTCP generic NACK, rtp/rtcp_nack.ts), and when to give up. The mesh carries the root's numbering, so
 * a gap in the sequence numbers a parent delivers is a loss on this hop or above it; a loss above is repaired
 * there and reaches this relay as a late packet anyway, so asking the parent costs at most a refusal.
 *
 * A number missing since `since` is asked for first after {@linkcode NackTiming.firstMs} (reordering on the way
 * is not a loss), then every {@linkcode NackTiming.retryMs}, and given up at the latency budget
 * ({@linkcode NackTiming.budgetMs}): a repair arriving after that is late, and the caller drops it rather than
 * hand readers a packet they have played past. Bounded: at most {@linkcode NackTiming.maxPending} numbers wait,
 * and a jump of more than {@linkcode NackTiming.maxGap} is counted lost but not asked for (an outage, or a new
 * numbering, is not repaired packet by packet).
 * Sans-I/O: the caller passes the time.
 * @module
 */

/** Timing and bounds of a {@linkcode NackTracker}. */
export interface NackTiming {
  /** Wait after a gap shows before the first request (ms). @default 3 */
  firstMs: number;
  /** Wait between requests for the same number (ms). @default 15 */
  retryMs: number;
  /** How long a repair is worth waiting for (ms): then the number is given up. @default 200 */
  budgetMs: number;
  /** Numbers waiting at most. @default 512 */
  maxPending: number;
  /** Largest jump whose missing numbers are asked for. @default 256 */
  maxGap: number;
}

/** What became of a received packet. */
export type NackVerdict = "new" | "repaired" | "late";

/** Counters of one tracker (or of several added up). */
export interface NackCounts {
  /** Numbers found missing (the raw loss on the hop; a packet reordered before it was asked for is not). */
  missing: number;
  /** Missing numbers that arrived within the budget. */
  recovered: number;
  /** Missing numbers given up (the loss readers see). */
  unrecovered: number;
  /** Repairs that arrived after their number was given up (dropped). */
  late: number;
  /** Numbers asked for, every request counted. */
  requested: number;
}

/** A fresh set of zero counters. */
export function emptyNackCounts(): NackCounts {
  return { missing: 0, recovered: 0, unrecovered: 0, late: 0, requested: 0 };
}

/** Defaults of {@linkcode NackTiming}. */
export const DEFAULT_NACK_TIMING: NackTiming = {
  firstMs: 3,
  retryMs: 15,
  budgetMs: 200,
  maxPending: 512,
  maxGap: 256,
};

/** Given-up numbers remembered, to tell a late repair from a reordered packet. */
const GIVEN_UP = 1024;

interface Missing {
  since: number;
  /** Next time to ask (ms). */
  due: number;
  /** Whether it was asked for yet: one that arrives before was reordered, not lost. */
  asked: boolean;
}

/** Gaps of one track in its parent's numbering. */
export class NackTracker {
  readonly #timing: NackTiming;
  readonly counts: NackCounts = emptyNackCounts();
  #highest = -1;
  #ssrc = -1;
  /** Numbers before this time are not asked for (a subscription's first moments: its GOP burst fills in). */
  #armedAt = 0;
  readonly #pending = new Map<number, Missing>();
  readonly #givenUp = new Int32Array(GIVEN_UP).fill(-1);
  #givenUpAt = 0;

  /** @param timing overrides of {@linkcode DEFAULT_NACK_TIMING} */
  constructor(timing: Partial<NackTiming> = {}) {
    this.#timing = { ...DEFAULT_NACK_TIMING, ...timing };
  }

  /** Numbers waiting for a repair. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Starts over (a new numbering; what waited is given up); no gaps are asked for before `armAt` (ms). */
  reset(armAt = 0): void {
    this.counts.unrecovered += this.#pending.size;
    this.#highest = -1;
    this.#ssrc = -1;
    this.#armedAt = armAt;
    this.#pending.clear();
    this.#givenUp.fill(-1);
  }

  /**
   * One packet the duplicate filter took.
   * @param seq its RTP sequence number
   * @param ssrc its SSRC (another one starts over)
   * @param now the time (ms)
   */
  receive(seq: number, ssrc: number, now: number): NackVerdict {
    seq &= 0xffff;
    if (ssrc !== this.#ssrc) {
      this.reset(this.#armedAt);
      this.#ssrc = ssrc;
    }
    if (this.#highest < 0) {
      this.#highest = seq;
      return "new";
    }
    const ahead = (seq - this.#highest) & 0xffff;
    if (ahead !== 0 && ahead < 0x8000) {
      const gap = ahead - 1;
      if (gap > 0) this.#missing(gap, now);
      this.#highest = seq;
      return "new";
    }
    const waiting = this.#pending.get(seq);
    if (waiting) {
      this.#pending.delete(seq);
      if (waiting.asked) {
        this.counts.recovered++;
        return "repaired";
      }
      this.counts.missing--; // reordered on the way, before it was asked for: no loss
      return "new";
    }
    if (this.#givenUp.includes(seq)) {
      this.counts.late++;
      return "late";
    }
    return "new"; // reordered before it was found missing, or older than anything tracked
  }

  /**
   * The numbers to ask for now, each rescheduled; numbers past the budget are given up first.
   * @returns sequence numbers, oldest first (empty when none is due)
   */
  due(now: number): number[] {
    const out: number[] = [];
    const { budgetMs, retryMs } = this.#timing;
    for (const [seq, m] of this.#pending) {
      if (now >= m.since + budgetMs) { // the same sum nextDue() gives (a difference can round below it)
        this.#giveUp(seq);
        continue;
      }
      if (m.due > now) continue;
      m.due = now + retryMs;
      m.asked = true;
      out.push(seq);
    }
    this.counts.requested += out.length;
    return out;
  }

  /** When {@linkcode due} has something next (ms), or Infinity when nothing waits. */
  nextDue(): number {
    let next = Infinity;
    const budget = this.#timing.budgetMs;
    for (const m of this.#pending.values()) next = Math.min(next, m.due, m.since + budget);
    return next;
  }

  #missing(gap: number, now: number): void {
    this.counts.missing += gap;
    const { maxGap, maxPending, firstMs } = this.#timing;
    if (gap > maxGap || now < this.#armedAt) {
      this.counts.unrecovered += gap;
      return;
    }
    for (let i = gap; i >= 1; i--) {
      const seq = (this.#highest + gap + 1 - i) & 0xffff;
      if (this.#pending.size >= maxPending) {
        // The oldest waits longest: it goes first.
        const oldest = this.#pending.keys().next().value!;
        this.#giveUp(oldest);
      }
      this.#pending.set(seq, { since: now, due: now + firstMs, asked: false });
    }
  }

  /** The parent will never have `seqs`: those still waited for are given up now (no more requests). */
  gone(seqs: readonly number[]): void {
    for (const seq of seqs) if (this.#pending.has(seq & 0xffff)) this.#giveUp(seq & 0xffff);
  }

  #giveUp(seq: number): void {
    this.#pending.delete(seq);
    this.counts.unrecovered++;
    this.#givenUp[this.#givenUpAt] = seq;
    this.#givenUpAt = (this.#givenUpAt + 1) % GIVEN_UP;
  }
}
