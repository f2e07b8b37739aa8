/**
 * A mesh source's requests for repairs: one {@linkcode NackTracker} per track, a timer set to the next number
 * due, and RTCP generic NACKs (rtp/rtcp_nack.ts) handed to `send` for the current parent. The source asks only
 * the parent feeding it; a repair that comes after the latency budget is reported late, for the source to drop.
 * @module
 */
import type { TimerHandle, Timers } from "../clock.ts";
import { encodeGenericNack } from "../rtp/rtcp_nack.ts";
import type { NackSettings } from "./mesh_options.ts";
import { emptyNackCounts, type NackCounts, NackTracker, type NackVerdict } from "./nack_tracker.ts";

/** Most numbers per NACK message: 200 numbers are at most 800 bytes of FCI, well inside one datagram. */
const SEQS_PER_MESSAGE = 200;

/** What a {@linkcode NackRequester} works with. */
export interface NackRequesterOptions {
  settings: NackSettings;
  timers: Timers;
  /** Monotonic ms. */
  now(): number;
  /**
   * Sends one NACK of `track` to the current parent.
   * @returns false when there is no parent to ask now
   */
  send(track: number, nack: Uint8Array): boolean;
}

/** Repair requests of one mesh source. */
export class NackRequester {
  readonly #opts: NackRequesterOptions;
  readonly #trackers: NackTracker[] = [];
  readonly #ssrcs: number[] = [];
  #timer: TimerHandle | null = null;
  #timerAt = Infinity;
  #stopped = false;

  /** @param options settings, timers and the parent to ask */
  constructor(options: NackRequesterOptions) {
    this.#opts = options;
  }

  /** One packet of `track` the duplicate filter took; "late" means the caller drops it. */
  receive(track: number, seq: number, ssrc: number): NackVerdict {
    const tracker = this.#trackers[track] ??= new NackTracker({ budgetMs: this.#opts.settings.budgetMs });
    this.#ssrcs[track] = ssrc;
    const verdict = tracker.receive(seq, ssrc, this.#opts.now());
    if (tracker.pending > 0) this.#schedule(tracker.nextDue());
    return verdict;
  }

  /** A new numbering: what waits is given up. */
  reset(): void {
    for (const tracker of this.#trackers) tracker?.reset();
  }

  /** The counters of every track added up. */
  counts(): NackCounts {
    const sum = emptyNackCounts();
    for (const tracker of this.#trackers) {
      if (!tracker) continue;
      for (const key of Object.keys(sum) as (keyof NackCounts)[]) sum[key] += tracker.counts[key];
    }
    return sum;
  }

  /** Numbers waiting for a repair, over every track. */
  get pending(): number {
    let n = 0;
    for (const tracker of this.#trackers) n += tracker?.pending ?? 0;
    return n;
  }

  /** Cancels the timer; nothing is asked for any more. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#opts.timers.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(at: number): void {
    if (this.#stopped || at >= this.#timerAt) return;
    if (this.#timer !== null) this.#opts.timers.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#opts.timers.setTimeout(() => this.#fire(), Math.max(0, at - this.#opts.now()));
  }

  #fire(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    if (this.#stopped) return;
    const now = this.#opts.now();
    let next = Infinity;
    this.#trackers.forEach((tracker, track) => {
      if (!tracker) return;
      const seqs = tracker.due(now);
      for (let i = 0; i < seqs.length; i += SEQS_PER_MESSAGE) {
        const nack = encodeGenericNack({
          senderSsrc: 0,
          mediaSsrc: this.#ssrcs[track] ?? 0,
          seqs: seqs.slice(i, i + SEQS_PER_MESSAGE),
        });
        if (!this.#opts.send(track, nack)) break;
      }
      next = Math.min(next, tracker.nextDue());
    });
    if (next < Infinity) this.#schedule(next);
  }
}
