/**
 * Tests of {@linkcode RateMeter}: bits per second over a sliding window of time buckets.
 * @module
 */
import assert from "node:assert/strict";
import { RateMeter } from "./rate_meter.ts";

/** Feeds `bytes` every `step` seconds from `from` to `to` (exclusive). */
function feed(m: RateMeter, from: number, to: number, step: number, bytes: number): void {
  for (let k = 0; from + k * step < to - 1e-9; k++) m.add(bytes, from + k * step);
}

Deno.test("RateMeter gives bits per second of a steady stream over the window", () => {
  const m = new RateMeter({ windowSeconds: 5, bucketSeconds: 0.5 });
  feed(m, 100, 110, 0.01, 125); // 100 packets/s of 125 bytes = 100 kbit/s
  assert.ok(Math.abs(m.bitsPerSecond(110) - 100_000) / 100_000 < 0.01, `${m.bitsPerSecond(110)}`);
  assert.equal(m.totalBytes, 1000 * 125);
});

Deno.test("RateMeter follows a rate change within the window and forgets a stopped stream", () => {
  const m = new RateMeter({ windowSeconds: 2, bucketSeconds: 0.25 });
  feed(m, 0, 10, 0.01, 125); // 100 kbit/s
  feed(m, 10, 20, 0.01, 250); // 200 kbit/s
  assert.ok(Math.abs(m.bitsPerSecond(20) - 200_000) / 200_000 < 0.01, `${m.bitsPerSecond(20)}`);
  assert.equal(m.bitsPerSecond(23), 0); // silent for longer than the window
});

Deno.test("RateMeter averages a young stream over its age, and reports 0 before 0.1 s", () => {
  const m = new RateMeter({ windowSeconds: 5 });
  assert.equal(m.bitsPerSecond(50), 0);
  feed(m, 50, 51, 0.01, 125); // one second at 100 kbit/s
  assert.ok(Math.abs(m.bitsPerSecond(51) - 100_000) / 100_000 < 0.02, `${m.bitsPerSecond(51)}`);
  const young = new RateMeter();
  young.add(1000, 7);
  assert.equal(young.bitsPerSecond(7.05), 0);
});

Deno.test("RateMeter ignores samples older than the window (a clock stepping back)", () => {
  const m = new RateMeter({ windowSeconds: 1, bucketSeconds: 0.5 });
  m.add(100, 10);
  m.add(100, 9.7); // previous bucket, still inside the window
  m.add(1_000_000, 5); // long gone
  assert.equal(m.totalBytes, 200);
});

Deno.test("RateMeter refuses a window that is not a multiple of the bucket", () => {
  assert.throws(() => new RateMeter({ windowSeconds: 1, bucketSeconds: 0.3 }), RangeError);
  assert.throws(() => new RateMeter({ windowSeconds: 0 }), RangeError);
  assert.throws(() => new RateMeter({ bucketSeconds: -1 }), RangeError);
});
