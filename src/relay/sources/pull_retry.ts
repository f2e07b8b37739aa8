/**
 * When a camera pull tries again: capped exponential backoff between attempts ({@linkcode backoffCeiling}, no
 * jitter: one relay pulls a camera once), at most `waitingRetryMs` while readers wait for the camera, brought
 * forward to `waitingRetryMs` after the last attempt when a new reader arrives, and started over once a session
 * played long enough to call the camera up. Sans-I/O: the time is passed in; the caller arms the timer.
 * @module
 */
import { type Backoff, backoffCeiling } from "../../backoff.ts";

/** Options of {@linkcode RetrySchedule}: the backoff, and the longest delay while readers wait. */
export interface RetryScheduleOptions extends Backoff {
  /** Longest delay while readers wait. */
  readonly waitingRetryMs: number;
}

/** The backoff of one camera pull: the attempt count and the pending retry, if any. */
export class RetrySchedule {
  readonly #o: RetryScheduleOptions;
  #attempt = 0;
  #pending: { from: number; at: number } | null = null;

  /** @param options delays */
  constructor(options: RetryScheduleOptions) {
    this.#o = options;
  }

  /** When the pending retry is due (monotonic ms), or null when none is pending. */
  get retryAt(): number | null {
    return this.#pending?.at ?? null;
  }

  /**
   * Schedules the next attempt after one that ended at `now`.
   * @param now when the attempt ended
   * @param stable the session played long enough: the backoff starts over
   * @param waiting readers wait for the camera: the delay is at most `waitingRetryMs`
   * @returns the delay (ms); {@linkcode retryAt} is `now` plus it
   */
  schedule(now: number, stable: boolean, waiting: boolean): number {
    if (stable) this.#attempt = 0;
    let delay = backoffCeiling(this.#attempt++, this.#o);
    if (waiting) delay = Math.min(delay, this.#o.waitingRetryMs);
    this.#pending = { from: now, at: now + delay };
    return delay;
  }

  /**
   * A reader arrived: the pending retry comes at most `waitingRetryMs` after the attempt that scheduled it.
   * @returns the new deadline, or null when nothing changed (no retry pending, or it is due sooner anyway)
   */
  hurry(): number | null {
    const pending = this.#pending;
    if (!pending) return null;
    const at = pending.from + this.#o.waitingRetryMs;
    if (at >= pending.at) return null;
    pending.at = at;
    return at;
  }

  /** The retry is being made (or abandoned): none is pending. */
  clear(): void {
    this.#pending = null;
  }
}
