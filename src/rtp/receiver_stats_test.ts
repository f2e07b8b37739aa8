import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_DROPOUT, RtpReceiverStats, type RtpUpdateResult } from "./receiver_stats.ts";
import { seededRandom as mulberry32 } from "../../tests/support/seeded_random.ts";

/** Feeds sequence numbers 1/8 s apart with matching 90 kHz timestamps (constant transit). */
function feed(stats: RtpReceiverStats, seqs: readonly number[]): RtpUpdateResult[] {
  return seqs.map((seq) => {
    const i = seq >= 0 ? seq : 0;
    return stats.update(seq, i * 11250, i * 0.125, 100);
  });
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let s = from; s <= to; s++) out.push(s & 0xffff);
  return out;
}

Deno.test("stats: probation at start, first packet not counted", () => {
  const s = new RtpReceiverStats(90000);
  assert.equal(s.snapshot().valid, false);
  assert.equal(s.update(10, 0, 0, 50), "probation");
  assert.deepEqual(
    [s.snapshot().valid, s.snapshot().received, s.snapshot().expected, s.snapshot().lost],
    [false, 0, 0, 0],
  );
  assert.equal(s.update(11, 3000, 0.033, 50), "ok");
  const snap = s.snapshot();
  assert.equal(snap.valid, true);
  assert.equal(snap.baseSeq, 11);
  assert.equal(snap.received, 1);
  assert.equal(snap.expected, 1);
  assert.equal(snap.lost, 0);
  assert.equal(snap.packets, 2);
  assert.equal(snap.bytes, 100);
});

Deno.test("stats: probation restarts on a non-consecutive packet", () => {
  const s = new RtpReceiverStats(90000);
  assert.deepEqual(feed(s, [10, 20, 21, 22]), ["probation", "probation", "ok", "ok"]);
  const snap = s.snapshot();
  assert.equal(snap.baseSeq, 21);
  assert.equal(snap.expected, 2);
  assert.equal(snap.received, 2);
});

Deno.test("stats: sequence wrap starting at 65530", () => {
  const s = new RtpReceiverStats(90000);
  const results = feed(s, range(65530, 65536 + 5)); // 65530..65535, 0..5
  assert.equal(results[0], "probation");
  assert.ok(results.slice(1).every((r) => r === "ok"));
  const snap = s.snapshot();
  assert.equal(snap.baseSeq, 65531);
  assert.equal(snap.extendedHighestSeq, 65536 + 5);
  assert.equal(snap.expected, 11);
  assert.equal(snap.received, 11);
  assert.equal(snap.lost, 0);
});

Deno.test("stats: a gap of 5 is 5 lost", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [100, 101, 102]);
  assert.equal(s.update(108, 0, 20, 10), "ok"); // 103..107 missing
  let snap = s.snapshot();
  assert.equal(snap.expected, 8);
  assert.equal(snap.received, 3);
  assert.equal(snap.lost, 5);
  feed(s, [109, 110]);
  snap = s.snapshot();
  assert.equal(snap.lost, 5);
  assert.equal(snap.extendedHighestSeq, 110);
});

Deno.test("stats: gap across the wrap", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [65533, 65534]);
  assert.equal(s.update(2, 0, 1, 10), "ok"); // 65535, 0, 1 missing
  const snap = s.snapshot();
  assert.equal(snap.extendedHighestSeq, 65536 + 2);
  assert.equal(snap.lost, 3);
});

Deno.test("stats: reordering is counted and leaves loss as in-order delivery would", () => {
  const inOrder = new RtpReceiverStats(90000);
  feed(inOrder, [100, 101, 102, 103, 104, 105]);
  const s = new RtpReceiverStats(90000);
  assert.deepEqual(feed(s, [100, 101, 102, 104]), ["probation", "ok", "ok", "ok"]);
  assert.equal(s.snapshot().lost, 1); // 103 missing so far
  assert.equal(s.update(103, 3 * 11250, 0.5, 100), "reordered");
  assert.equal(s.snapshot().lost, 0); // the late packet fills the gap
  assert.equal(s.update(105, 5 * 11250, 0.625, 100), "ok");
  const a = s.snapshot();
  const b = inOrder.snapshot();
  assert.equal(a.reordered, 1);
  assert.equal(b.reordered, 0);
  assert.deepEqual([a.received, a.expected, a.lost, a.extendedHighestSeq], [
    b.received,
    b.expected,
    b.lost,
    b.extendedHighestSeq,
  ]);
});

Deno.test("stats: duplicates are detected, counted as received per RFC, loss goes negative", () => {
  const s = new RtpReceiverStats(90000);
  assert.deepEqual(feed(s, [100, 101, 102, 102, 103, 101]), [
    "probation",
    "ok",
    "ok",
    "duplicate", // same as the highest
    "ok",
    "duplicate", // late and already seen
  ]);
  const snap = s.snapshot();
  assert.equal(snap.duplicates, 2);
  assert.equal(snap.reordered, 0);
  assert.equal(snap.expected, 3); // 101..103
  assert.equal(snap.received, 5);
  assert.equal(snap.lost, -2);
  assert.equal(snap.lostReported, 0);
  assert.equal(snap.missing, 0);
});

Deno.test("stats: duplicates hide a loss in the RFC figure, not in the missing count", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [1, 2, 3, 5, 5, 6]); // 4 lost, 5 twice
  const snap = s.snapshot();
  assert.deepEqual([snap.expected, snap.received, snap.lost, snap.missing], [5, 5, 0, 1]);
  assert.equal(s.reportBlock(1, 0).cumulativeLost, 0);
  feed(s, [4]); // late after all
  assert.equal(s.snapshot().missing, 0);
});

Deno.test("stats: duplicate window across the wrap and after it slides", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [65534, 65535, 0, 1]);
  assert.equal(s.update(65535, 0, 1, 10), "duplicate");
  assert.equal(s.update(0, 0, 1, 10), "duplicate");

  const t = new RtpReceiverStats(90000);
  feed(t, range(1, 200));
  assert.equal(t.update(150, 0, 30, 10), "duplicate"); // 50 behind, seen
  feed(t, range(202, 210)); // 201 skipped; its bit position (73) once held seq 73
  assert.equal(t.update(201, 0, 30, 10), "reordered");
  assert.equal(t.update(201, 0, 30, 10), "duplicate");
  assert.equal(t.snapshot().lost, -2); // two duplicates, nothing missing
});

Deno.test("stats: a big jump is resynced only when confirmed by the next packet", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [100, 101, 102, 103]);
  assert.equal(s.update(5000, 0, 1, 10), "bad_sequence");
  assert.equal(s.snapshot().extendedHighestSeq, 103); // not taken
  assert.equal(s.update(5001, 0, 1, 10), "resync");
  let snap = s.snapshot();
  assert.equal(snap.baseSeq, 5001);
  assert.equal(snap.received, 1);
  assert.equal(snap.expected, 1);
  assert.equal(snap.lost, 0);
  assert.equal(snap.badSequence, 1);
  assert.equal(snap.resyncs, 1);
  assert.equal(s.update(5002, 0, 1, 10), "ok");
  snap = s.snapshot();
  assert.equal(snap.received, 2);
  assert.equal(snap.packets, 7); // every call, whatever its verdict
});

Deno.test("stats: a single stray packet far away does not disturb the stream", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [100, 101, 102]);
  assert.equal(s.update(102 + MAX_DROPOUT, 0, 1, 10), "bad_sequence"); // exactly MAX_DROPOUT ahead
  assert.equal(s.update(103, 0, 1, 10), "ok");
  assert.equal(s.update(102 - 101, 0, 1, 10), "bad_sequence"); // 101 behind: more than MAX_MISORDER
  assert.equal(s.update(104, 0, 1, 10), "ok");
  const snap = s.snapshot();
  assert.equal(snap.lost, 0);
  assert.equal(snap.badSequence, 2);
  assert.equal(snap.resyncs, 0);
  assert.equal(s.update(102 + MAX_DROPOUT - 1 + 2, 0, 1, 10), "ok"); // 2999 ahead of 104: still in order
});

Deno.test("stats: jitter is 0 for constant transit, including across the timestamp wrap", () => {
  const s = new RtpReceiverStats(90000);
  const base = 0xffffffff - 5 * 11250; // wraps after a few packets
  for (let i = 0; i < 50; i++) s.update(i, (base + i * 11250) >>> 0, 1000 + i * 0.125, 100);
  assert.equal(s.snapshot().jitterTimestampUnits, 0);

  // At 30 fps the arrival times are not exact in binary; jitter stays negligible.
  const r = new RtpReceiverStats(90000);
  for (let i = 0; i < 300; i++) r.update(i, i * 3000, 5 + i / 30, 100);
  assert.ok(r.snapshot().jitterTimestampUnits < 1e-6);
});

Deno.test("stats: alternating delays converge to the analytic value", () => {
  // Transit alternates 0 / delta, so |D| = delta for every packet after the first and
  // J_n = delta * (1 - (15/16)^n) after n updates.
  const delta = 2 ** -7; // seconds, exact in binary
  const deltaUnits = delta * 90000; // 703.125
  const s = new RtpReceiverStats(90000);
  const n = 40;
  for (let i = 0; i <= n; i++) s.update(i, i * 11250, i * 0.125 + (i % 2 === 1 ? delta : 0), 100);
  const expected = deltaUnits * (1 - (15 / 16) ** n);
  const snap = s.snapshot();
  assert.ok(
    Math.abs(snap.jitterTimestampUnits - expected) < 1e-9,
    `${snap.jitterTimestampUnits} vs ${expected}`,
  );
  assert.ok(Math.abs(snap.jitterSeconds - expected / 90000) < 1e-12);
  for (let i = n + 1; i <= 1000; i++) s.update(i, i * 11250, i * 0.125 + (i % 2 === 1 ? delta : 0), 100);
  assert.ok(Math.abs(s.snapshot().jitterTimestampUnits - deltaUnits) < 1e-6);
});

Deno.test("stats: jitter uses the clock rate of the stream", () => {
  // 8 kHz audio, 20 ms packets, every other one 10 ms late: |D| = 80 units.
  const s = new RtpReceiverStats(8000);
  for (let i = 0; i <= 2000; i++) s.update(i, i * 160, i * 0.02 + (i % 2 === 1 ? 0.01 : 0), 172);
  assert.ok(Math.abs(s.snapshot().jitterTimestampUnits - 80) < 1e-6);
  assert.ok(Math.abs(s.snapshot().jitterSeconds - 0.01) < 1e-9);
});

Deno.test("stats: fraction lost per interval", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [0, 1, 2, 4, 5, 7, 8]); // base 1; 3 and 6 missing: 2 of 8
  assert.deepEqual(s.intervalReport(), {
    fractionLost: 64, // 2/8 * 256
    expectedInterval: 8,
    receivedInterval: 6,
    lostInterval: 2,
  });
  feed(s, range(9, 18)); // no loss
  assert.deepEqual(s.intervalReport(), {
    fractionLost: 0,
    expectedInterval: 10,
    receivedInterval: 10,
    lostInterval: 0,
  });
  feed(s, [19, 19, 20]); // a duplicate: more received than expected
  assert.equal(s.intervalReport().fractionLost, 0);
  assert.equal(s.intervalReport().expectedInterval, 0); // empty interval
  s.update(120, 0, 0, 0); // 99 of 100 lost
  assert.equal(s.intervalReport().fractionLost, 253); // floor(99 * 256 / 100)
  assert.equal(s.snapshot().lost, 2 + 99 - 1); // cumulative keeps counting
});

Deno.test("stats: report block fields", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [0, 1, 2, 4]); // 1 lost
  const noSr = s.reportBlock(0xdeadbeef, 10);
  assert.deepEqual(noSr, {
    ssrc: 0xdeadbeef,
    fractionLost: 64, // 1/4
    cumulativeLost: 1,
    highestSeq: 4,
    jitter: 0,
    lsr: 0,
    dlsr: 0,
  });
  s.noteSenderReport(0x12345678, 20);
  feed(s, [5, 6]);
  const withSr = s.reportBlock(0xdeadbeef, 20.5);
  assert.equal(withSr.lsr, 0x12345678);
  assert.equal(withSr.dlsr, 32768); // 0.5 s in 1/65536 s
  assert.equal(withSr.fractionLost, 0);
  assert.equal(withSr.highestSeq, 6);
});

Deno.test("stats: report block clamps loss to signed 24 bits and truncates jitter", () => {
  const s = new RtpReceiverStats(90000);
  let seq = 0;
  s.update(seq, 0, 0, 1);
  seq++;
  s.update(seq, 0, 0, 1);
  for (let i = 0; i < 3000; i++) {
    seq = (seq + MAX_DROPOUT - 1) & 0xffff; // 2998 lost each time, never a "bad" jump
    assert.equal(s.update(seq, 0, 0, 1), "ok");
  }
  const snap = s.snapshot();
  assert.equal(snap.lost, 3000 * 2998);
  const block = s.reportBlock(1, 0);
  assert.equal(block.cumulativeLost, 0x7fffff);
  assert.equal(block.highestSeq, (1 + 3000 * 2999) >>> 0);

  const dup = new RtpReceiverStats(90000);
  feed(dup, [1, 2, 2, 2]);
  assert.equal(dup.reportBlock(1, 0).cumulativeLost, -2);

  const j = new RtpReceiverStats(90000);
  j.update(0, 0, 0, 1);
  j.update(1, 0, 0, 1);
  j.update(2, 0, 1, 1); // |D| = 90000 -> J = 5625
  j.update(3, 0, 1.5, 1); // |D| = 45000 -> J = 5625 + (45000 - 5625) / 16 = 8085.9375
  assert.equal(j.snapshot().jitterTimestampUnits, 8085.9375);
  assert.equal(j.reportBlock(1, 0).jitter, 8085);
});

Deno.test("stats: rejects a non-positive clock rate", () => {
  assert.throws(() => new RtpReceiverStats(0), RangeError);
});

Deno.test("stats: starting at 65535, a packet reordered across the wrap counts one cycle, no loss", () => {
  const s = new RtpReceiverStats(90000);
  assert.deepEqual(feed(s, [65534, 65535, 1, 0, 2, 3]), ["probation", "ok", "ok", "reordered", "ok", "ok"]);
  const snap = s.snapshot();
  assert.equal(snap.baseSeq, 65535);
  assert.equal(snap.extendedHighestSeq, 65536 + 3);
  assert.deepEqual([snap.expected, snap.received, snap.lost, snap.reordered], [5, 5, 0, 1]);
  assert.equal(s.reportBlock(7, 0).highestSeq, 65536 + 3);
});

Deno.test("stats: the last packet before the wrap arriving after it fills its gap", () => {
  const s = new RtpReceiverStats(90000);
  feed(s, [65532, 65533, 65534, 0, 1]); // 65535 late
  assert.equal(s.snapshot().lost, 1);
  assert.equal(s.update(65535, 0, 1, 10), "reordered");
  const snap = s.snapshot();
  assert.deepEqual([snap.lost, snap.reordered, snap.extendedHighestSeq], [0, 1, 65536 + 1]);
  assert.equal(s.update(65535, 0, 1, 10), "duplicate");
  assert.equal(s.update(2, 0, 1, 10), "ok");
  assert.equal(s.snapshot().extendedHighestSeq, 65536 + 2); // still one cycle
});

Deno.test("stats: several wraps with loss at each one", () => {
  const s = new RtpReceiverStats(90000);
  const seqs: number[] = [];
  let dropped = 0;
  for (let i = 0; i < 3 * 65536 + 100; i++) {
    const seq = (65000 + i) & 0xffff;
    if (i > 2 && (seq === 65535 || seq === 0)) {
      dropped++;
      continue;
    }
    seqs.push(seq);
  }
  for (const seq of seqs) s.update(seq, 0, 0, 1);
  const snap = s.snapshot();
  assert.equal(snap.extendedHighestSeq, 65000 + 3 * 65536 + 99);
  assert.equal(snap.lost, dropped);
  assert.equal(snap.lost, 6);
});

/**
 * A reference for the property below: RFC 3550 A.8 jitter over packets in arrival order, from the first one on
 * (what the statistics do after probation: the first packet is the baseline).
 */
function referenceJitter(arrivals: ReadonlyArray<{ ts: number; at: number }>, clockRate: number): number {
  let j = 0;
  for (let k = 1; k < arrivals.length; k++) {
    const a = arrivals[k - 1]!;
    const b = arrivals[k]!;
    const d = (b.at - a.at) * clockRate - (b.ts - a.ts);
    j += (Math.abs(d) - j) / 16;
  }
  return j;
}

Deno.test("stats: loss, reordering and jitter match an independent count for random loss, swaps and delays", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 65536 - 600, max: 65535 }), // start near the wrap
      fc.integer({ min: 50, max: 1500 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (start, n, seed) => {
        const rand = mulberry32(seed);
        // Drops anywhere but the first 3 and the last packet (loss is only known up to the highest received).
        const sent = Array.from({ length: n }, (_, i) => start + i); // extended sequence numbers
        const delivered = sent.filter((_, i) => i < 3 || i === n - 1 || rand() >= 0.05);
        const dropped = n - delivered.length;
        // Swap neighbours after the first 3, never the last: each swap makes one packet late.
        let swaps = 0;
        for (let i = 3; i + 1 < delivered.length - 1; i++) {
          if (rand() < 0.1) {
            [delivered[i], delivered[i + 1]] = [delivered[i + 1]!, delivered[i]!];
            swaps++;
            i++;
          }
        }
        // 30 fps at 90 kHz, each packet up to 20 ms late, in arrival order.
        let at = 0;
        const arrivals = delivered.map((ext) => {
          at += 0.001 + rand() * 0.04;
          return { seq: ext & 0xffff, ts: ((ext - start) * 3000) >>> 0, at };
        });
        const s = new RtpReceiverStats(90000);
        for (const a of arrivals) s.update(a.seq, a.ts, a.at, 100);
        const snap = s.snapshot();
        assert.equal(snap.lost, dropped);
        assert.equal(snap.missing, dropped);
        assert.equal(snap.reordered, swaps);
        // Cycles count from the first counted packet (start + 1), which may already be past the wrap.
        assert.equal(snap.extendedHighestSeq, start + n - 1 - (start + 1 >= 65536 ? 65536 : 0));
        const ref = referenceJitter(arrivals, 90000);
        assert.ok(
          Math.abs(snap.jitterTimestampUnits - ref) <= 1e-6 * Math.max(1, ref),
          `${snap.jitterTimestampUnits} vs ${ref}`,
        );
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("stats: packets overtaken by the first counted one are neither expected nor received", () => {
  // Arrival order after reordering at the start: 100 and 98 fail probation, 103 then 104 validate (base 104).
  const s = new RtpReceiverStats(90000);
  assert.deepEqual(feed(s, [100, 98, 103, 104, 101, 105, 102, 97, 107]), [
    "probation",
    "probation",
    "probation",
    "ok",
    "reordered", // before the base: outside the statistics
    "ok",
    "reordered",
    "reordered",
    "ok", // 106 lost
  ]);
  const snap = s.snapshot();
  assert.equal(snap.baseSeq, 104);
  assert.deepEqual([snap.expected, snap.received, snap.lost, snap.missing, snap.reordered], [4, 3, 1, 1, 3]);
  assert.equal(s.update(101, 0, 1, 10), "duplicate"); // seen: still a duplicate, still not counted
  assert.deepEqual([s.snapshot().received, s.snapshot().duplicates, s.snapshot().missing], [3, 1, 1]);
});

Deno.test("stats: missingSettled() leaves out gaps among the newest sequence numbers", () => {
  const s = new RtpReceiverStats(90000);
  assert.equal(s.missingSettled(32), 0);
  feed(s, [65530, 65531, 65533]); // 65532 missing, 1 below the highest
  assert.deepEqual([s.snapshot().missing, s.missingSettled(32), s.missingSettled(1)], [1, 0, 1]);
  feed(s, range(65534, 65536 + 40).filter((x) => x !== 5 && x !== 30)); // across the wrap; 5, 30 missing
  // Highest 40 (after the wrap): 30 is 10 below, 5 is 35 below, 65532 is 44 below.
  assert.equal(s.snapshot().missing, 3);
  assert.equal(s.missingSettled(11), 2);
  assert.equal(s.missingSettled(10), 3);
  assert.equal(s.missingSettled(36), 1);
  assert.equal(s.missingSettled(128), 0);
  assert.equal(s.missingSettled(1000), 0); // capped at the window
  s.update(30, 0, 1, 1); // late: fills its gap
  assert.deepEqual([s.snapshot().missing, s.missingSettled(11), s.missingSettled(36)], [2, 2, 1]);
});
