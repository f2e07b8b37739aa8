/**
 * Tests of the token bucket and the keyed rate limiter, on virtual time: bursts, refill, the retry delay it
 * announces, keys kept apart, the table pruned and bounded; properties over random request times.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { RateLimiter, TokenBucket } from "./rate_limiter.ts";

Deno.test("TokenBucket grants a burst of 2 × rate, then one request per 1/rate", () => {
  const b = new TokenBucket({ ratePerSecond: 10 }, 0);
  equal(b.burst, 20);
  const burst = Array.from({ length: 21 }, () => b.take(0));
  assertEquals(burst.slice(0, 20), Array(20).fill(0));
  equal(burst[20], 100, "the 21st waits for one token: 100 ms at 10/s");
  equal(b.take(99), 1, "1 ms short");
  equal(b.take(100), 0);
  equal(b.take(100), 100);
});

Deno.test("TokenBucket refills up to its burst, not beyond, and ignores a clock that steps back", () => {
  const b = new TokenBucket({ ratePerSecond: 5, burst: 3 }, 1000);
  for (let i = 0; i < 3; i++) equal(b.take(1000), 0);
  equal(b.tokens(1000), 0);
  equal(b.tokens(1100), 0.5);
  equal(b.tokens(900), 0.5, "back in time: no refill, no debt");
  equal(b.tokens(60_000), 3);
  ok(b.full(60_000));
});

Deno.test("TokenBucket refuses a rate or burst it cannot honour", () => {
  throws(() => new TokenBucket({ ratePerSecond: 0 }, 0), /ratePerSecond must be a positive number, got 0/);
  throws(() => new TokenBucket({ ratePerSecond: NaN }, 0), /ratePerSecond/);
  throws(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5 }, 0), /burst must be at least 1, got 0.5/);
});

Deno.test("TokenBucket never grants more than burst + rate × elapsed (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }),
      fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 400 }),
      (rate, gaps) => {
        const b = new TokenBucket({ ratePerSecond: rate }, 0);
        let now = 0;
        let granted = 0;
        for (const gap of gaps) {
          now += gap;
          if (b.take(now) === 0) granted++;
        }
        return granted <= b.burst + (rate * now) / 1000 + 1e-9;
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("TokenBucket grants a client that waits as told, and never refuses one that keeps to the rate (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100 }),
      fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }),
      (rate, gaps) => {
        const b = new TokenBucket({ ratePerSecond: rate }, 0);
        let now = 0;
        for (const gap of gaps) {
          now += gap;
          const wait = b.take(now);
          if (wait > 0 && b.take(now + wait) !== 0) return false;
          if (wait > 0) now += wait;
        }
        // A steady client at the rate, starting from any state: never refused once the bucket had one token.
        const steady = new TokenBucket({ ratePerSecond: rate }, now);
        const period = Math.ceil(1000 / rate);
        for (let i = 0; i < 50; i++) if (steady.take(now + i * period) !== 0) return false;
        return true;
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("RateLimiter keeps one bucket per key: one client's flood does not touch another", () => {
  const l = new RateLimiter({ ratePerSecond: 2 });
  for (let i = 0; i < 4; i++) equal(l.take("10.0.0.1", 0), 0);
  equal(l.take("10.0.0.1", 0), 500);
  equal(l.take("10.0.0.2", 0), 0);
  equal(l.size, 2);
});

Deno.test("RateLimiter.prune() forgets the full buckets only", () => {
  const l = new RateLimiter({ ratePerSecond: 2 });
  l.take("a", 0);
  l.take("b", 0);
  l.take("b", 900);
  l.prune(1000); // a: 3.5 + 0.5 → full; b: 3 tokens at 900 → 3.2 at 1000
  equal(l.size, 1);
  l.prune(2000);
  equal(l.size, 0);
});

Deno.test("RateLimiter lets new keys through untracked when its table is full of busy clients", () => {
  const l = new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 2 });
  equal(l.take("a", 0), 0);
  equal(l.take("b", 0), 0);
  equal(l.take("c", 0), 0, "fails open");
  equal(l.take("c", 0), 0, "still untracked");
  equal(l.size, 2);
  // Once a and b are full again, a pass over the table makes room.
  equal(l.take("c", 5000), 0);
  equal(l.size, 1);
  equal(l.take("c", 5000), 1000);
});

Deno.test("TokenBucket.charge() bills what a request turned out to be, into debt; waitMs() tells without taking", () => {
  const b = new TokenBucket({ ratePerSecond: 10, burst: 4 }, 0);
  equal(b.waitMs(0), 0);
  for (let i = 0; i < 4; i++) b.charge(0, 1);
  equal(b.waitMs(0), 100, "one token comes in 100 ms");
  b.charge(0, 2); // two more failures answered meanwhile: debt
  equal(b.waitMs(0), 300);
  b.charge(0, 100);
  equal(b.tokens(0), -4, "the debt is bounded by the burst");
  equal(b.waitMs(500), 0, "paid off at the rate");
});

Deno.test("RateLimiter.charge() keeps successful requests free: a client billed only for failures", () => {
  const limiter = new RateLimiter({ ratePerSecond: 50, burst: 100 });
  for (let i = 0; i < 1000; i++) equal(limiter.waitMs("10.0.0.1", i), 0, "nothing billed, nothing waited");
  for (let i = 0; i < 100; i++) limiter.charge("10.0.0.2", 0, 1);
  ok(limiter.waitMs("10.0.0.2", 0) > 0);
  equal(limiter.waitMs("10.0.0.1", 0), 0, "another client is not affected");
});
