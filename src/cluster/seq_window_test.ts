/**
 * Tests of the mesh duplicate filter: repeats and stale packets refused, reordering and wrap accepted.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import { SEQ_WINDOW, SeqWindow } from "./seq_window.ts";

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

Deno.test("SeqWindow takes a restart under the same SSRC once a second packet confirms it (RFC 3550 A.1)", () => {
  const w = new SeqWindow();
  for (let s = 10_000; s < 12_000; s++) w.check(s, 7);
  assertEquals(w.check(5_000, 7), "probation", "far behind: a stale repeat, or a new numbering");
  assertEquals(w.check(11_900, 7), "repeat", "a repeat within the window is still one");
  assertEquals(w.check(5_001, 7), true, "confirmed: a new numbering");
  for (let s = 5_002; s < 5_100; s++) assertEquals(w.check(s, 7), true);
  assertEquals(w.check(5_050, 7), "repeat");
  // Ahead is new in any case.
  assertEquals(w.check(30_000, 7), true);
});

Deno.test("SeqWindow takes a retired SSRC back from the sender it follows, once a second packet confirms it", () => {
  const w = new SeqWindow();
  assertEquals([w.check(100, 0xa), w.check(101, 0xa)], [true, true]);
  assertEquals(w.check(5000, 0xb), true); // another numbering: 0xa retired
  assertEquals(w.check(102, 0xa), "retired"); // a late packet of the old numbering
  assertEquals(w.check(103, 0xa), "retired", "not from the followed sender: never taken back");
  assertEquals(w.check(200, 0xa, true), "retired", "the first packet of the followed sender waits");
  assertEquals(w.check(300, 0xa, true), "retired", "not in sequence: still waiting");
  assertEquals([w.check(301, 0xa, true), w.check(302, 0xa, true)], [true, true]);
  assertEquals(w.ssrc, 0xa);
  assertEquals(w.check(5001, 0xb), "retired", "the numbering left is retired in turn");
});

Deno.test("SeqWindow tells whether another sender continues its numbering: next number, or a repeat with the same timestamp", () => {
  const w = new SeqWindow();
  assertEquals(w.continuedBy(7, 7, 0xa), true, "nothing taken yet");
  for (let s = 100; s < 110; s++) w.check(s, 0xa, false, s * 3600);
  assertEquals(w.continuedBy(110, 110 * 3600, 0xa), true, "the next number");
  assertEquals(
    w.continuedBy(110, 109 * 3600 - 1, 0xa),
    false,
    "the next number, an earlier timestamp (seed 1006)",
  );
  assertEquals(
    w.continuedBy(105, 105 * 3600, 0xa),
    true,
    "a repeat, same timestamp: a sender a little behind",
  );
  assertEquals(
    w.continuedBy(105, 105 * 3600 - 62, 0xa),
    false,
    "a repeat with another timestamp: other offsets",
  );
  assertEquals(w.continuedBy(116, 116 * 3600, 0xa), false, "ahead: not known to continue");
  assertEquals(w.continuedBy(60, 60 * 3600, 0xa), false, "behind, never taken");
  assertEquals(w.continuedBy(110, 110 * 3600, 0xb), false, "another SSRC");
});
