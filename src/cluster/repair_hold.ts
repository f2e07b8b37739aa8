/**
 * In-order delivery behind a gap, for one track of a mesh source with per-hop retransmission: a packet after a
 * missing number is held until the repair arrives (then both go, in order) or until the latency budget has passed
 * since the gap showed (then the relay moves on: what is held goes, the missing number is skipped). A packet behind
 * what was delivered is late: the caller drops it, so readers never get one out of order (RTSP readers over TCP
 * drop those anyway). A jump larger than `maxGap` is not waited for (an outage, or a new numbering): what is held
 * goes at once. Bounded: at most `maxHeld` packets wait; one more releases the oldest gap.
 * Sans-I/O: the caller passes the time and sends what is returned.
 * @module
 */

/** One packet as the hold keeps it; `forwarded` is the caller's (e.g. the fast plane already sent it). */
export interface HeldPacket {
  readonly seq: number;
  readonly packet: Uint8Array;
  readonly forwarded: boolean;
}

/** Bounds of a {@linkcode RepairHold}. */
export interface RepairHoldOptions {
  /** How long to wait for a missing number (ms). */
  budgetMs: number;
  /** Largest jump waited for. @default 256 */
  maxGap?: number;
  /** Most packets held. @default 1024 */
  maxHeld?: number;
}

/**
 * What became of a pushed packet: `now` (deliver it, and only it: the common case, nothing allocated), the packets
 * to deliver in order (it and held ones it released, or held ones it let go before it), held, or late (dropped).
 */
export type HoldResult = "now" | HeldPacket[] | "held" | "late";

/** In-order delivery of one track. */
export class RepairHold {
  readonly #budgetMs: number;
  readonly #maxGap: number;
  readonly #maxHeld: number;
  /** The next number to deliver, or -1 before the first packet. */
  #next = -1;
  readonly #held = new Map<number, HeldPacket>();
  /** When the current gap showed (ms), while packets are held. */
  #gapSince = 0;
  /** The next packet ahead is delivered at once (see {@linkcode resync}). */
  #resyncing = false;
  /** Packets dropped for arriving behind what was delivered. */
  late = 0;
  /** Numbers skipped when the budget ran out (or too many were held). */
  skipped = 0;

  /** @param options the latency budget and bounds */
  constructor(options: RepairHoldOptions) {
    this.#budgetMs = options.budgetMs;
    this.#maxGap = options.maxGap ?? 256;
    this.#maxHeld = options.maxHeld ?? 1024;
  }

  /** Packets waiting behind a gap. */
  get held(): number {
    return this.#held.size;
  }

  /** The last number delivered, or -1. */
  get lastDelivered(): number {
    return this.#next < 0 ? -1 : (this.#next - 1) & 0xffff;
  }

  /** When {@linkcode expire} next has something to release (ms), or Infinity. */
  get deadline(): number {
    return this.#held.size > 0 ? this.#gapSince + this.#budgetMs : Infinity;
  }

  /**
   * Stops waiting (the parent fell silent: what is missing is an outage, and whoever feeds this relay next starts
   * a gap not worth waiting for): what was held is returned, in order, for delivery, and the next packet ahead is
   * delivered at once, whatever it skips. Packets behind what was delivered stay late.
   */
  resync(): HeldPacket[] {
    const out = this.#sortedHeld();
    this.#held.clear();
    if (out.length > 0) this.#next = (out[out.length - 1]!.seq + 1) & 0xffff;
    this.#resyncing = this.#next >= 0;
    return out;
  }

  /** Forgets everything (a new numbering); what was held is returned, in order, for delivery. */
  reset(): HeldPacket[] {
    const out = this.#sortedHeld();
    this.#held.clear();
    this.#next = -1;
    return out;
  }

  /** One packet (`seq`, its bytes, the caller's `forwarded` flag) the duplicate filter took. */
  push(seq: number, packet: Uint8Array, forwarded: boolean, now: number): HoldResult {
    seq &= 0xffff;
    if (this.#next < 0) {
      this.#next = (seq + 1) & 0xffff;
      return "now";
    }
    const ahead = (seq - this.#next) & 0xffff;
    if (ahead === 0) {
      this.#resyncing = false;
      this.#next = (seq + 1) & 0xffff;
      if (this.#held.size === 0) return "now";
      const out: HeldPacket[] = [{ seq, packet, forwarded }];
      this.#releaseRun(out);
      if (this.#held.size > 0) this.#gapSince = now; // the next gap waits from now on
      return out;
    }
    if (ahead >= 0x8000) {
      this.late++;
      return "late";
    }
    if (ahead > this.#maxGap || this.#resyncing) {
      this.#resyncing = false;
      // Not a loss worth waiting for: everything held goes, and the numbering continues from here.
      const out = this.#sortedHeld();
      this.#held.clear();
      this.skipped += ahead;
      this.#next = (seq + 1) & 0xffff;
      if (out.length === 0) return "now";
      out.push({ seq, packet, forwarded });
      return out;
    }
    if (this.#held.size === 0) this.#gapSince = now;
    this.#held.set(seq, { seq, packet, forwarded });
    if (this.#held.size > this.#maxHeld) return this.#skipGap(now);
    return "held";
  }

  /**
   * The parent will never have `seqs` (it moved past them without them): the hold stops waiting for those, and
   * delivers what waited behind them.
   * @returns the packets to deliver now, in order
   */
  giveUp(seqs: readonly number[], now: number): HeldPacket[] {
    if (this.#next < 0 || this.#held.size === 0) return [];
    const gone = new Set(seqs.map((s) => s & 0xffff));
    const out: HeldPacket[] = [];
    for (;;) {
      const p = this.#held.get(this.#next);
      if (p) {
        this.#held.delete(this.#next);
        out.push(p);
      } else if (gone.has(this.#next)) this.skipped++;
      else break;
      this.#next = (this.#next + 1) & 0xffff;
    }
    // The next gap waits from now on, as after a repair.
    if (out.length > 0 && this.#held.size > 0) this.#gapSince = now;
    return out;
  }

  /** Moves on past gaps whose budget ran out; @returns the packets to deliver now, in order */
  expire(now: number): HeldPacket[] {
    const out: HeldPacket[] = [];
    while (this.#held.size > 0 && now >= this.#gapSince + this.#budgetMs) out.push(...this.#skipGap(now));
    return out;
  }

  /** Skips the missing numbers before the first held packet and delivers the run that follows. */
  #skipGap(now: number): HeldPacket[] {
    let first = -1;
    let best = 0x10000;
    for (const seq of this.#held.keys()) {
      const ahead = (seq - this.#next) & 0xffff;
      if (ahead < best) {
        best = ahead;
        first = seq;
      }
    }
    this.skipped += best;
    this.#next = first;
    const out: HeldPacket[] = [];
    this.#releaseRun(out);
    // The next gap's own wait started when it showed; no later than now.
    if (this.#held.size > 0) this.#gapSince = now;
    return out;
  }

  /** Delivers the held packets that continue from `#next`. */
  #releaseRun(out: HeldPacket[]): void {
    for (;;) {
      const p = this.#held.get(this.#next);
      if (!p) return;
      this.#held.delete(this.#next);
      out.push(p);
      this.#next = (this.#next + 1) & 0xffff;
    }
  }

  #sortedHeld(): HeldPacket[] {
    const base = this.#next < 0 ? 0 : this.#next;
    return [...this.#held.values()].sort((a, b) => ((a.seq - base) & 0xffff) - ((b.seq - base) & 0xffff));
  }
}
