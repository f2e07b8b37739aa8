import assert from "node:assert/strict";
import fc from "fast-check";
import { RetransmitBudget } from "./retransmit_budget.ts";

Deno.test("retransmit budget: a burst at once, then the stream's rate times the ratio", () => {
  const b = new RetransmitBudget(0.25, 8);
  assert.equal(b.grant(20, 1000), 8);
  assert.equal(b.grant(5, 1000), 0); // no new packets: no credit
  assert.equal(b.grant(5, 1008), 2);
  assert.equal(b.grant(100, 2000), 8); // saved at most the burst
});

Deno.test("retransmit budget: however a child asks, it never gets more than ratio x packets + burst", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ asked: fc.integer({ min: 0, max: 500 }), packets: fc.integer({ min: 0, max: 50 }) }),
      ),
      fc.double({ min: 0, max: 2, noNaN: true }),
      (calls, ratio) => {
        const b = new RetransmitBudget(ratio, 32);
        let packets = 0;
        let granted = 0;
        for (const c of calls) {
          packets += c.packets;
          const g = b.grant(c.asked, packets);
          assert.ok(g >= 0 && g <= c.asked);
          granted += g;
        }
        assert.ok(granted <= ratio * packets + 32 + 1e-9);
      },
    ),
  );
});
