/**
 * Shifts the process's clocks for a test: `Date.now()` (the wall clock) and `performance.now()` (what
 * `monotonicMs()` in src/clock.ts reads) keep running from their real values plus offsets the test moves. A test
 * steps the wall clock as NTP or a VM resume would, or lets monotonic time pass without waiting for it. `using`
 * restores both.
 * @example
 * ```ts
 * using clocks = shiftClocks();
 * clocks.wallMs += 3_600_000; // the wall clock jumps an hour forward
 * clocks.monotonicMs += 70_000; // 70 s pass
 * ```
 * @module
 */

/** The offsets applied to the clocks until disposed. */
export interface ShiftedClocks extends Disposable {
  /** Added to the real `Date.now()`. */
  wallMs: number;
  /** Added to the real `performance.now()` (keep it from going down: the clock is monotonic). */
  monotonicMs: number;
}

/**
 * Replaces `Date.now` and `performance.now` with shifted versions of themselves.
 * @returns the offsets (both 0) and their restore
 * @throws Error when the clocks are shifted already
 */
export function shiftClocks(): ShiftedClocks {
  const realDateNow = Date.now;
  if ((realDateNow as { shifted?: boolean }).shifted) throw new Error("Clocks are already shifted");
  const realPerformanceNow = performance.now.bind(performance);
  const clocks: ShiftedClocks = {
    wallMs: 0,
    monotonicMs: 0,
    [Symbol.dispose]() {
      Date.now = realDateNow;
      delete (performance as { now?: unknown }).now; // the own property: the prototype's method shows again
    },
  };
  const shiftedDateNow = () => realDateNow() + clocks.wallMs;
  Date.now = Object.assign(shiftedDateNow, { shifted: true });
  Object.defineProperty(performance, "now", {
    value: () => realPerformanceNow() + clocks.monotonicMs,
    configurable: true,
    writable: true,
  });
  return clocks;
}
