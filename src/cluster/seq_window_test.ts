/**
 * Tests of the mesh duplicate filter: repeats and stale packets refused, reordering and wrap accepted.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import { SEQ_WINDOW, SeqWindow, STUCK_MS } from "./seq_window.ts";

Deno.test("SeqWindow accepts each number once, across the 16-bit wrap", () => {
  const w = new SeqWindow();
  const seqs = [65530, 65531, 65533, 65532, 65535, 0, 1, 2];
  assertEquals(seqs.map((s) => w.accept(s)), seqs.map(() => true));
  assertEquals(seqs.map((s) => w.accept(s)), seqs.map(() => false));
  assertEquals(w.accept(3), true);
});

Deno.test("SeqWindow refuses a replayed GOP burst that is older than the window", () => {
  const w = new SeqWindow();
  for (let s = 1000; s < 1000 + 2 * SEQ_WINDOW; s++) w.accept(s);
  assertEquals(w.accept(1000), false); // forgotten but older than the window
  assertEquals(w.accept(1000 + 2 * SEQ_WINDOW), true);
});

Deno.test("SeqWindow: any interleaving of a new parent's overlap delivers every packet exactly once", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 0, max: 200 }),
      (start, length, overlap) => {
        const w = new SeqWindow();
        const oldParent = Array.from({ length }, (_, i) => (start + i) & 0xffff);
        // The new parent starts `overlap` packets back (bounded by what was sent) and continues.
        const from = Math.max(0, length - overlap);
        const newParent = Array.from({ length: length - from + 50 }, (_, i) => (start + from + i) & 0xffff);
        const delivered = [...oldParent, ...newParent].filter((s) => w.accept(s));
        assertEquals(delivered, Array.from({ length: length + 50 }, (_, i) => (start + i) & 0xffff));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("SeqWindow.reset() starts over", () => {
  const w = new SeqWindow();
  w.accept(5);
  w.reset();
  assertEquals(w.accept(5), true);
});

Deno.test("SeqWindow follows a new root's SSRC at once and never takes the old one back", () => {
  const w = new SeqWindow();
  for (let s = 40_000; s < 40_100; s++) assertEquals(w.check(s, 0xaaaa), true);
  // The new root numbers from a base behind the old one's: with a new SSRC, nothing is taken for a repeat.
  for (let s = 39_000; s < 39_050; s++) assertEquals(w.check(s, 0xbbbb), true);
  assertEquals(w.check(40_100, 0xaaaa), "retired", "a late packet of the old root");
  assertEquals(w.check(39_050, 0xbbbb), true);
  assertEquals(w.check(39_049, 0xbbbb), "repeat");
  assertEquals(w.epochs, 2);
});

Deno.test("SeqWindow refuses a GOP burst far behind it as old; it starts over only after refusing for STUCK_MS", () => {
  const w = new SeqWindow();
  for (let s = 10_000; s < 12_000; s++) w.check(s, 7, 0);
  // A parent of this epoch replays its GOP after a pause: what is older than the window is refused, never a restart.
  for (let s = 11_000; s < 11_400; s++) assertEquals(w.check(s, 7, 100 + s - 11_000), "behind");
  assertEquals(w.check(11_900, 7, 600), "repeat", "a repeat within the window is still one");
  assertEquals(w.check(12_000, 7, 700), true, "new numbers are taken, and end the refusals");
  // Refused for STUCK_MS with nothing taken (a wrap after a long cut, a bogus number): the window starts over.
  assertEquals(w.check(5_000, 7, 1_000), "behind");
  assertEquals(w.check(5_001, 7, 1_000 + STUCK_MS - 1), "behind");
  assertEquals(w.check(5_002, 7, 1_000 + STUCK_MS), true);
  assertEquals([w.check(5_003, 7, 3_001), w.check(5_002, 7, 3_002)], [true, "repeat"]);
  // Ahead is new in any case.
  assertEquals(w.check(30_000, 7, 3_003), true);
});

Deno.test("SeqWindow never takes a retired SSRC back: its late packets cannot flip the numbering", () => {
  const w = new SeqWindow();
  assertEquals([w.check(100, 0xa), w.check(101, 0xa)], [true, true]);
  assertEquals(w.check(5000, 0xb), true); // another numbering: 0xa retired
  assertEquals([w.check(102, 0xa), w.check(103, 0xa)], ["retired", "retired"]);
  assertEquals([w.ssrc, w.check(5001, 0xb)], [0xb, true]);
  w.reset(); // a new epoch: anything goes again
  assertEquals(w.check(104, 0xa), true);
  assertEquals(w.check(5002, 0xb, 10), true); // 0xa retired again
  // Only the retired numbering arrives, nothing taken for STUCK_MS: it is followed again.
  assertEquals([w.check(105, 0xa, 20), w.check(106, 0xa, 20 + STUCK_MS)], ["retired", true]);
  assertEquals(w.ssrc, 0xa);
});
