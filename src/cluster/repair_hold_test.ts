import assert from "node:assert/strict";
import fc from "fast-check";
import { type HeldPacket, RepairHold } from "./repair_hold.ts";

const seqs = (r: HeldPacket[]) => r.map((p) => p.seq);
/** Pushes packet `seq`: what goes now (in order), or "held" / "late". */
function push(h: RepairHold, seq: number, now: number): number[] | string {
  const r = h.push(seq, new Uint8Array([seq & 0xff]), false, now);
  return r === "now" ? [seq] : typeof r === "string" ? r : seqs(r);
}

Deno.test("repair hold: packets after a gap wait for the repair, then all go in order", () => {
  const h = new RepairHold({ budgetMs: 100 });
  assert.deepEqual(push(h, 10, 0), [10]);
  assert.deepEqual(push(h, 12, 1), "held");
  assert.deepEqual(push(h, 13, 2), "held");
  assert.equal(h.deadline, 101);
  assert.deepEqual(push(h, 11, 5), [11, 12, 13]);
  assert.equal(h.held, 0);
  assert.equal(h.lastDelivered, 13);
});

Deno.test("repair hold: past the budget the relay moves on; the repair that comes later is late", () => {
  const h = new RepairHold({ budgetMs: 100 });
  push(h, 65534, 0);
  push(h, 0, 10); // 65535 missing, across the wrap
  push(h, 2, 20); // 1 missing too
  assert.deepEqual(h.expire(109), []);
  assert.deepEqual(seqs(h.expire(110)), [0]); // 65535 skipped; 1 waits from now
  assert.equal(h.deadline, 210);
  assert.deepEqual(push(h, 65535, 111), "late");
  assert.deepEqual(push(h, 1, 150), [1, 2]);
  assert.deepEqual([h.late, h.skipped], [1, 1]);
});

Deno.test("repair hold: a jump beyond maxGap is not waited for; too many held release the oldest gap", () => {
  const h = new RepairHold({ budgetMs: 100, maxGap: 16, maxHeld: 3 });
  push(h, 0, 0);
  push(h, 2, 0);
  assert.deepEqual(push(h, 500, 0), [2, 500]);
  push(h, 502, 0);
  push(h, 504, 0);
  push(h, 505, 0);
  assert.deepEqual(push(h, 506, 0), [502]); // four held: 501 given up
  assert.deepEqual(seqs(h.reset()), [504, 505, 506]);
});

Deno.test("repair hold: whatever arrives, what it delivers only moves forward and never repeats", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ seq: fc.integer({ min: 0, max: 60 }), dt: fc.integer({ min: 0, max: 50 }) }), {
        maxLength: 200,
      }),
      (arrivals) => {
        const h = new RepairHold({ budgetMs: 80, maxGap: 20, maxHeld: 8 });
        const delivered: number[] = [];
        let now = 0;
        const seen = new Set<number>();
        for (const a of arrivals) {
          now += a.dt;
          delivered.push(...h.expire(now).map((p) => p.seq));
          if (seen.has(a.seq)) continue; // the duplicate filter comes first
          seen.add(a.seq);
          const r = push(h, a.seq, now);
          if (typeof r !== "string") delivered.push(...r);
          assert.ok(h.held <= 8);
        }
        for (let i = 1; i < delivered.length; i++) {
          assert.ok(delivered[i]! > delivered[i - 1]!, `${delivered}`);
        }
      },
    ),
  );
});

Deno.test("repair hold: a gap is given up exactly at its deadline, whatever the rounding", () => {
  const h = new RepairHold({ budgetMs: 200 });
  const since = 4080.542229546792;
  push(h, 1, since);
  push(h, 3, since);
  assert.deepEqual(seqs(h.expire(h.deadline)), [3]);
  assert.equal(h.deadline, Infinity);
});

Deno.test("repair hold: after a resync (the parent fell silent) the next packet goes at once, whatever it skips", () => {
  const h = new RepairHold({ budgetMs: 100 });
  push(h, 10, 0);
  push(h, 12, 1);
  assert.deepEqual(seqs(h.resync()), [12]);
  assert.deepEqual(push(h, 11, 2), "late");
  assert.deepEqual(push(h, 40, 700), [40]); // the next parent: 13..39 not waited for
  assert.deepEqual(push(h, 42, 701), "held"); // and then gaps are waited for again
  assert.equal(h.skipped, 27);
});

Deno.test("repair hold: numbers the parent says are gone stop the wait at once; only those", () => {
  const h = new RepairHold({ budgetMs: 100 });
  assert.deepEqual(push(h, 10, 0), [10]);
  for (const s of [12, 13, 15]) assert.deepEqual(push(h, s, 1), "held");
  assert.deepEqual(seqs(h.giveUp([20], 2)), [], "a number not waited for changes nothing");
  assert.deepEqual(
    seqs(h.giveUp([11], 3)),
    [12, 13],
    "11 gone: what waited behind it goes, 14 still waited for",
  );
  assert.equal(h.deadline, 103, "14's wait runs from now");
  assert.deepEqual(seqs(h.giveUp([14], 4)), [15]);
  assert.equal(h.held, 0);
  assert.equal(h.skipped, 2);
  assert.deepEqual(push(h, 11, 5), "late");
});
