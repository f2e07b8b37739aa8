/**
 * Tests of {@linkcode RetrySchedule}, when a camera pull tries again: the delay of each attempt (doubling from
 * the first, capped, finite and never shrinking however many attempts failed), its reset after a stable
 * session, the cap while readers wait, and a reader bringing the pending retry forward.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { RetrySchedule } from "./pull_retry.ts";

/** The pull's defaults. */
const DEFAULTS = { initialMs: 500, maxMs: 10_000, waitingRetryMs: 500 };

Deno.test("RetrySchedule starts at 500 ms and doubles up to the 10 s cap (the pull's defaults)", () => {
  const r = new RetrySchedule(DEFAULTS);
  const delays = Array.from({ length: 8 }, () => r.schedule(0, false, false));
  assertEquals(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
});

Deno.test("RetrySchedule honours other first delays and caps, and no delay stays no delay", () => {
  const r = new RetrySchedule({ initialMs: 100, maxMs: 450, waitingRetryMs: 500 });
  assertEquals([0, 1, 2, 3].map(() => r.schedule(0, false, false)), [100, 200, 400, 450]);
  equal(
    new RetrySchedule({ initialMs: 2000, maxMs: 1000, waitingRetryMs: 500 }).schedule(0, false, false),
    1000,
  );
  const none = new RetrySchedule({ initialMs: 0, maxMs: 1000, waitingRetryMs: 500 });
  for (let i = 0; i < 100; i++) equal(none.schedule(0, false, false), 0);
});

Deno.test("RetrySchedule delays are finite, within [initial, max] and non-decreasing over any run of failures", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 60_000 }),
      fc.integer({ min: 0, max: 600_000 }),
      fc.integer({ min: 1, max: 200 }),
      (initialMs, extra, failures) => {
        const maxMs = initialMs + extra;
        const r = new RetrySchedule({ initialMs, maxMs, waitingRetryMs: maxMs });
        let previous = 0;
        for (let i = 0; i < failures; i++) {
          const d = r.schedule(i, false, false);
          ok(
            Number.isFinite(d) && d >= initialMs && d <= maxMs,
            `delay ${d} outside [${initialMs}, ${maxMs}]`,
          );
          ok(d >= previous, `${d} after ${previous}`);
          previous = d;
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("RetrySchedule starts over after a stable session and caps the delay while readers wait", () => {
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
