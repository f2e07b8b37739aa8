/**
 * Tests of the pull source's reconnect schedule, {@linkcode backoffDelay}: doubling from the first delay,
 * capped, and always a finite positive number however many attempts failed.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { backoffDelay } from "./pull.ts";

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
