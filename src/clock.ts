/**
 * The relay's clocks. Durations, timeouts, expiries, leases and rates use {@linkcode monotonicMs}, which an NTP
 * step or a VM resume cannot move backwards or make leap; `Date.now()` is only for timestamps shown to people
 * (logs, ISO strings in the admin API).
 * @module
 */

/** A clock in milliseconds, injected where code measures time so tests can pin it. */
export type Clock = () => number;

/**
 * Milliseconds on a monotonic clock (`performance.now()`: since the process started, never stepped by changes of
 * the wall clock). Only differences between two readings mean anything.
 * @example
 * const started = monotonicMs();
 * await work();
 * const tookMs = monotonicMs() - started;
 */
export function monotonicMs(): number {
  return performance.now();
}

/** A pending timer's handle: opaque, only given back to {@linkcode Timers.clearTimeout}. */
export type TimerHandle = unknown;

/** Timers as code that schedules work uses them, injected so tests can run it without waiting. */
export interface Timers {
  /** Runs `fn` once after `ms` milliseconds. @returns a handle for {@linkcode Timers.clearTimeout} */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending timer (an unknown or undefined handle is ignored). */
  clearTimeout(handle: TimerHandle): void;
}

/** The runtime's timers. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout> | undefined),
};
