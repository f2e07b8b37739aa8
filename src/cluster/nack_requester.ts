/**
 * A mesh source's repairs: per track a {@linkcode NackTracker} (what is missing, when to ask) and a
 * {@linkcode RepairHold} (packets after a gap wait for the repair, so readers get the stream in order), a timer set
 * to whichever is due next, and RTCP generic NACKs (rtp/rtcp_nack.ts) handed to `send` for the current parent.
 * Packets the hold releases on its own (the budget ran out) go to `release`; a repair that comes after that is
 * late, and dropped.
 * @module
 */
import type { TimerHandle, Timers } from "../clock.ts";
import { encodeGenericNack } from "../rtp/rtcp_nack.ts";
import type { NackSettings } from "./mesh_options.ts";
import { emptyNackCounts, type NackCounts, NackTracker } from "./nack_tracker.ts";
import { type HeldPacket, type HoldResult, RepairHold } from "./repair_hold.ts";

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
  /** Packets of `track` the hold let go on its own (in order), for the source to deliver. */
  release(track: number, packets: HeldPacket[]): void;
}

/** Repair requests of one mesh source. */
export class NackRequester {
  readonly #opts: NackRequesterOptions;
  readonly #trackers: NackTracker[] = [];
  readonly #holds: RepairHold[] = [];
  readonly #ssrcs: number[] = [];
  #timer: TimerHandle | null = null;
  /** Held packets dropped at a new numbering. */
  #skipped = 0;
  #timerAt = Infinity;
  #stopped = false;

  /** @param options settings, timers and the parent to ask */
  constructor(options: NackRequesterOptions) {
    this.#opts = options;
  }

  /**
   * One packet of `track` the duplicate filter took.
   * @returns "now" (deliver this one), the packets to deliver now, in order (this one and any it released),
   * "held" (it waits behind a gap) or "late" (behind what was delivered: drop it)
   */
  receive(track: number, seq: number, packet: Uint8Array, forwarded: boolean, ssrc: number): HoldResult {
    const budgetMs = this.#opts.settings.budgetMs;
    const tracker = this.#trackers[track] ??= new NackTracker({ budgetMs });
    const hold = this.#holds[track] ??= new RepairHold({ budgetMs });
    if (this.#ssrcs[track] !== undefined && this.#ssrcs[track] !== ssrc) this.#skipped += hold.reset().length;
    this.#ssrcs[track] = ssrc;
    const now = this.#opts.now();
    const result = hold.push(seq, packet, forwarded, now);
    if (result === "late") return result;
    tracker.receive(seq, ssrc, now);
    if (tracker.pending > 0 || hold.held > 0) this.#schedule(Math.min(tracker.nextDue(), hold.deadline));
    return result;
  }

  /**
   * The parent fell silent: stop waiting for what is missing (an outage, not a loss), deliver what is held (through
   * `release`), and take the next parent's first packets as they come.
   */
  resync(): void {
    const now = this.#opts.now();
    this.#holds.forEach((hold, track) => {
      if (!hold) return;
      const held = hold.resync();
      if (held.length > 0) this.#opts.release(track, held);
      this.#trackers[track]?.reset(now);
    });
  }

  /** A new numbering: what waits is given up, what is held dropped. */
  reset(): void {
    for (const tracker of this.#trackers) tracker?.reset();
    for (const hold of this.#holds) if (hold) this.#skipped += hold.reset().length;
  }

  /** The last number of `track` delivered, or -1. */
  lastDelivered(track: number): number {
    return this.#holds[track]?.lastDelivered ?? -1;
  }

  /**
   * The parent answered that it will never have `seqs` of `track`: they are given up, and what waited behind them
   * is released (through `release`).
   */
  gone(track: number, seqs: readonly number[]): void {
    this.#trackers[track]?.gone(seqs);
    const released = this.#holds[track]?.giveUp(seqs, this.#opts.now()) ?? [];
    if (released.length > 0) this.#opts.release(track, released);
  }

  /** The counters of every track added up. */
  counts(): NackCounts {
    const sum = emptyNackCounts();
    for (const tracker of this.#trackers) {
      if (!tracker) continue;
      for (const key of Object.keys(sum) as (keyof NackCounts)[]) sum[key] += tracker.counts[key];
    }
    // The hold decides what is late (dropped behind what was delivered).
    sum.late = 0;
    for (const hold of this.#holds) sum.late += hold?.late ?? 0;
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
    // At least 1 ms: nothing here may spin on a timer that finds nothing to do.
    this.#timer = this.#opts.timers.setTimeout(() => this.#fire(), Math.max(1, at - this.#opts.now()));
  }

  #fire(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    if (this.#stopped) return;
    const now = this.#opts.now();
    let next = Infinity;
    this.#trackers.forEach((tracker, track) => {
      if (!tracker) return;
      const hold = this.#holds[track]!;
      const released = hold.expire(now);
      if (released.length > 0) this.#opts.release(track, released);
      next = Math.min(next, hold.deadline);
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
