import assert from "node:assert/strict";
import fc from "fast-check";
import { NackTracker } from "./nack_tracker.ts";

const SSRC = 0x1234;

Deno.test("NACK tracker: a gap is asked for after the reorder wait, again at each retry, then given up", () => {
  const t = new NackTracker({ firstMs: 3, retryMs: 10, budgetMs: 50 });
  assert.equal(t.receive(100, SSRC, 0), "new");
  assert.equal(t.receive(103, SSRC, 1), "new"); // 101, 102 missing
  assert.deepEqual(t.due(2), []);
  assert.deepEqual(t.due(4), [101, 102]);
  assert.deepEqual(t.due(5), []);
  assert.deepEqual(t.due(14), [101, 102]);
  assert.equal(t.receive(101, SSRC, 20), "repaired");
  assert.deepEqual(t.due(24), [102]);
  assert.equal(t.nextDue(), 34);
  assert.deepEqual(t.due(51), []); // budget spent: 102 given up
  assert.equal(t.pending, 0);
  assert.equal(t.receive(102, SSRC, 60), "late");
  assert.deepEqual(t.counts, { missing: 2, recovered: 1, unrecovered: 1, late: 1, requested: 5 });
});

Deno.test("NACK tracker: a packet reordered before the first request is no loss and costs no request", () => {
  const t = new NackTracker({ firstMs: 3 });
  t.receive(10, SSRC, 0);
  t.receive(12, SSRC, 0);
  assert.equal(t.receive(11, SSRC, 1), "new");
  assert.deepEqual(t.due(10), []);
  assert.deepEqual(t.counts, { missing: 0, recovered: 0, unrecovered: 0, late: 0, requested: 0 });
});

Deno.test("NACK tracker: numbers wrap at 65535", () => {
  const t = new NackTracker({ firstMs: 0 });
  t.receive(65534, SSRC, 0);
  t.receive(1, SSRC, 0);
  assert.deepEqual(t.due(0), [65535, 0]);
});

Deno.test("NACK tracker: an outage longer than maxGap is counted lost, not asked for packet by packet", () => {
  const t = new NackTracker({ firstMs: 0, maxGap: 16 });
  t.receive(0, SSRC, 0);
  t.receive(500, SSRC, 0);
  assert.deepEqual(t.due(1), []);
  assert.deepEqual(t.counts, { missing: 499, recovered: 0, unrecovered: 499, late: 0, requested: 0 });
});

Deno.test("NACK tracker: at most maxPending wait; the oldest is given up first", () => {
  const t = new NackTracker({ firstMs: 0, maxPending: 4, maxGap: 100 });
  t.receive(0, SSRC, 0);
  t.receive(7, SSRC, 0); // 1..6 missing, only 3..6 kept
  assert.deepEqual(t.due(0), [3, 4, 5, 6]);
  assert.equal(t.counts.unrecovered, 2);
});

Deno.test("NACK tracker: a new SSRC starts over; before arming, gaps are not asked for", () => {
  const t = new NackTracker({ firstMs: 0 });
  t.reset(100);
  t.receive(0, SSRC, 0);
  t.receive(5, SSRC, 50);
  assert.deepEqual(t.due(60), []);
  t.receive(9, SSRC, 120);
  assert.deepEqual(t.due(120), [6, 7, 8]);
  assert.equal(t.receive(40_000, SSRC + 1, 121), "new");
  assert.equal(t.pending, 0);
});

Deno.test("NACK tracker: whatever the arrivals, every missing number ends recovered, given up, or waiting", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ seq: fc.integer({ min: 0, max: 300 }), dt: fc.integer({ min: 0, max: 40 }) }), {
        maxLength: 300,
      }),
      (arrivals) => {
        const t = new NackTracker({ maxGap: 64, maxPending: 32, budgetMs: 100 });
        let now = 0;
        for (const a of arrivals) {
          now += a.dt;
          t.receive(a.seq, SSRC, now);
          t.due(now);
          assert.ok(t.pending <= 32);
        }
        const c = t.counts;
        assert.equal(c.missing, c.recovered + c.unrecovered + t.pending);
      },
    ),
  );
});

Deno.test("NACK tracker: a number is given up exactly when nextDue() says, whatever the rounding", () => {
  const t = new NackTracker({ firstMs: 3, retryMs: 15, budgetMs: 200 });
  const since = 4080.542229546792; // since + 200 - since rounds below 200
  t.receive(1, SSRC, since);
  t.receive(3, SSRC, since);
  while (t.pending > 0) {
    const at = t.nextDue();
    t.due(at);
    assert.ok(t.pending === 0 || t.nextDue() > at, "nextDue() must move on");
  }
  assert.equal(t.counts.unrecovered, 1);
});
