import { equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { backoffCeiling, backoffDelay } from "./backoff.ts";

Deno.test("backoffCeiling doubles from the first delay up to the cap", () => {
  const b = { initialMs: 500, maxMs: 10_000 };
  equal(backoffCeiling(0, b), 500);
  equal(backoffCeiling(1, b), 1000);
  equal(backoffCeiling(4, b), 8000);
  equal(backoffCeiling(5, b), 10_000);
  equal(backoffCeiling(1e9, b), 10_000, "no overflow for a long outage");
  equal(backoffCeiling(-1, b), 500);
  equal(backoffCeiling(Infinity, b), 10_000);
  equal(backoffCeiling(2 ** 31, b), 10_000);
  equal(backoffCeiling(7, { initialMs: 0, maxMs: 10_000 }), 0, "a first delay of 0 stays 0");
});

Deno.test("backoffDelay stays between half the ceiling and the ceiling", () => {
  fc.assert(
    fc.property(fc.nat(100), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
      const b = { initialMs: 100, maxMs: 30_000 };
      const d = backoffDelay(n, b, r);
      const c = backoffCeiling(n, b);
      ok(d >= c / 2 && d <= c, `${d} of ${c}`);
    }),
  );
});
