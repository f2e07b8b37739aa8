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
