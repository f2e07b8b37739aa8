/**
 * Tests of the retry schedule of a camera pull: {@linkcode backoffDelay} (doubling from the first delay, capped,
 * and always a finite positive number however many attempts failed) and {@linkcode RetrySchedule} (the delay
 * of each attempt, its reset after a stable session, the cap while readers wait, and a reader bringing the
 * pending retry forward).
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { backoffDelay, RetrySchedule } from "./pull_retry.ts";

/** The pull source's defaults (backoffInitialMs, backoffMaxMs). */
const INITIAL = 500;
const MAX = 10_000;

Deno.test("backoffDelay() starts at 500 ms and doubles up to the 10 s cap", () => {
  const delays = Array.from({ length: 8 }, (_, attempt) => backoffDelay(attempt, INITIAL, MAX));
  assertEquals(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
});

Deno.test("backoffDelay() stays at the cap for huge attempt numbers", () => {
  for (const attempt of [31, 1000, 2 ** 31, Number.MAX_SAFE_INTEGER, Infinity]) {
    equal(backoffDelay(attempt, INITIAL, MAX), MAX, `attempt ${attempt}`);
  }
});

Deno.test("backoffDelay() honours other initial delays and caps", () => {
  assertEquals([0, 1, 2, 3].map((a) => backoffDelay(a, 100, 450)), [100, 200, 400, 450]);
  equal(backoffDelay(0, 2000, 1000), 1000); // a first delay above the cap is capped too
  equal(backoffDelay(5000, 0, 1000), 0); // no delay stays no delay, never NaN (0 * 2^5000)
});

Deno.test("backoffDelay() is finite, within [initial, max] and non-decreasing for any attempt", () => {
  fc.assert(
    fc.property(
      fc.nat({ max: Number.MAX_SAFE_INTEGER - 1 }),
      fc.integer({ min: 0, max: 60_000 }),
      fc.integer({ min: 0, max: 600_000 }),
      (attempt, initial, extra) => {
        const max = initial + extra;
        const d = backoffDelay(attempt, initial, max);
        ok(Number.isFinite(d), `delay ${d}`);
        ok(d >= initial && d <= max, `delay ${d} outside [${initial}, ${max}]`);
        ok(backoffDelay(attempt + 1, initial, max) >= d);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("backoffDelay() with the defaults is always one of the doubling steps or the cap", () => {
  const steps = new Set([500, 1000, 2000, 4000, 8000, 10_000]);
  fc.assert(
    fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (attempt) => {
      ok(steps.has(backoffDelay(attempt, INITIAL, MAX)));
    }),
  );
});

Deno.test("RetrySchedule doubles per attempt, starts over after a stable session and caps while readers wait", () => {
  const r = new RetrySchedule({ initialMs: 500, maxMs: 10_000, waitingRetryMs: 300 });
  assertEquals([0, 1, 2].map(() => r.schedule(0, false, false)), [500, 1000, 2000]);
  equal(r.schedule(0, false, true), 300, "a reader waits: at most waitingRetryMs");
  equal(r.schedule(0, false, false), 8000, "the attempt made while a reader waited counts");
  equal(r.schedule(0, true, false), 500, "after a stable session the backoff starts over");
  equal(r.schedule(100, false, false), 1000);
  equal(r.retryAt, 1100);
});

Deno.test("RetrySchedule.hurry() brings the retry to waitingRetryMs after the attempt, never later", () => {
  const r = new RetrySchedule({ initialMs: 2000, maxMs: 10_000, waitingRetryMs: 300 });
  equal(r.hurry(), null, "nothing pending");
  r.schedule(1000, false, false);
  equal(r.retryAt, 3000);
  equal(r.hurry(), 1300);
  equal(r.retryAt, 1300);
  equal(r.hurry(), null, "already as soon as a reader may have it");
  r.clear();
  equal(r.retryAt, null);
  // A first delay shorter than waitingRetryMs is kept.
  const quick = new RetrySchedule({ initialMs: 100, maxMs: 10_000, waitingRetryMs: 300 });
  quick.schedule(0, false, false);
  equal(quick.hurry(), null);
  equal(quick.retryAt, 100);
});
