/** Tests of the anti-replay window against a model that remembers every accepted number. */
import { equal } from "node:assert/strict";
import fc from "fast-check";
import { REPLAY_WINDOW, ReplayWindow } from "./replay_window.ts";

Deno.test("ReplayWindow accepts exactly the numbers a full-memory model accepts", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: -5, max: 40 }), fc.integer({ min: -6000, max: 6000 })), {
        maxLength: 300,
      }),
      (steps) => {
        const w = new ReplayWindow();
        const seen = new Set<number>();
        let highest = -1;
        let n = 10_000;
        for (const step of steps) {
          n = Math.max(0, n + step);
          const expected = !seen.has(n) && (n > highest || highest - n < REPLAY_WINDOW);
          if (w.check(n) !== expected) return false;
          if (expected) {
            w.accept(n);
            seen.add(n);
            highest = Math.max(highest, n);
          }
        }
        return w.highest === highest;
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("ReplayWindow handles 48-bit packet numbers and jumps beyond the window", () => {
  const w = new ReplayWindow();
  const big = 2 ** 48 - 10;
  w.accept(5);
  w.accept(big);
  equal(w.check(5), false);
  equal(w.check(big), false);
  equal(w.check(big - 1), true);
  equal(w.check(big - REPLAY_WINDOW), false);
});
