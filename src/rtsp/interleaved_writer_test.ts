import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { InterleavedWriter, SCRATCH_FIRST_BYTES, SCRATCH_SHRINK_AFTER } from "./interleaved_writer.ts";

/** A writer whose writes complete only when the test releases them. */
function gatedSink() {
  const chunks: Uint8Array[] = [];
  let release: (() => void) | null = null;
  let gate = Promise.resolve();
  return {
    chunks,
    /** Writes started (counted when called, before the gate opens). */
    writes: 0,
    hold() {
      gate = new Promise((r) => (release = r));
    },
    open() {
      release?.();
    },
    async write(p: Uint8Array) {
      this.writes++;
      await gate;
      chunks.push(p.slice());
      return p.length;
    },
  };
}

/** A queue bound no test here reaches unless it sets its own. */
const QUEUE = { maxQueuedBytes: 1 << 21 };

/** Lets the writer start the drain it scheduled (it starts at the end of the current task). */
const inFlight = () => Promise.resolve();

Deno.test("InterleavedWriter frames payloads with $, channel and big-endian length", async () => {
  const sink = gatedSink();
  const w = new InterleavedWriter(sink, QUEUE);
  w.enqueueFrame(1, new Uint8Array([9, 8, 7]), true);
  await w.flushed();
  assertEquals([...sink.chunks[0]!], [0x24, 1, 0, 3, 9, 8, 7]);
});

Deno.test("InterleavedWriter coalesces queued frames into one write", async () => {
  const sink = gatedSink();
  sink.hold();
  const w = new InterleavedWriter(sink, QUEUE);
  w.enqueueMessage(new Uint8Array([1])); // in flight, held
  await inFlight();
  for (let i = 0; i < 10; i++) w.enqueueFrame(0, new Uint8Array(100), true);
  sink.open();
  await w.flushed();
  assertEquals(sink.chunks.length, 2);
  assertEquals(sink.chunks[1]!.length, 10 * 104);
});

Deno.test("InterleavedWriter sends the frames queued in one task as one write", async () => {
  const sink = gatedSink();
  const w = new InterleavedWriter(sink, QUEUE);
  for (let i = 0; i < 13; i++) w.enqueueFrame(0, new Uint8Array(1200), true);
  assertEquals(sink.writes, 0);
  await w.flushed();
  assertEquals(sink.chunks.map((c) => c.length), [13 * 1204]);
});

Deno.test("InterleavedWriter grows its write buffer for large bursts and shrinks it back for small frames", async () => {
  const sink = gatedSink();
  const w = new InterleavedWriter(sink, QUEUE);
  const burst = async (frames: number, size = 1200) => {
    const before = sink.chunks.length;
    for (let i = 0; i < frames; i++) w.enqueueFrame(0, new Uint8Array(size), true);
    await w.flushed();
    return sink.chunks.slice(before).map((c) => c.length / (size + 4));
  };
  ok(SCRATCH_FIRST_BYTES === 16 * 1024 && SCRATCH_SHRINK_AFTER === 64);
  assertEquals(await burst(40), [13, 27]); // 16 KiB full: 32 KiB next
  assertEquals(await burst(50), [27, 23]); // full again: 64 KiB next
  assertEquals(await burst(50), [50]);
  for (let i = 0; i < 63; i++) assertEquals(await burst(1, 100), [1]);
  assertEquals(await burst(50), [50]); // 63 small writes: still 64 KiB
  for (let i = 0; i < 64; i++) await burst(1, 100);
  assertEquals(await burst(50), [27, 23]); // 64 small writes in a row: back to 32 KiB
  ok(sink.chunks.every((c) => c[0] === 0x24), "every write starts with a frame");
});

Deno.test("InterleavedWriter starts writing a message at once, and the frames queued after it together", async () => {
  const sink = gatedSink();
  const w = new InterleavedWriter(sink, QUEUE);
  w.enqueueMessage(new Uint8Array([1, 2, 3]));
  assertEquals(sink.writes, 1); // before this task ends: an answer does not wait for the event loop's turn
  for (let i = 0; i < 13; i++) w.enqueueFrame(0, new Uint8Array(1200), true);
  await w.flushed();
  assertEquals(sink.chunks.map((c) => c.length), [3, 13 * 1204]);
});

Deno.test("InterleavedWriter drops droppable frames over its bound and keeps messages", async () => {
  const sink = gatedSink();
  sink.hold();
  const w = new InterleavedWriter(sink, { maxQueuedBytes: 1000 });
  w.enqueueMessage(new Uint8Array(1)); // in flight, held: no longer counted as queued
  await inFlight();
  let accepted = 0;
  for (let i = 0; i < 100; i++) if (w.enqueueFrame(0, new Uint8Array(196), true)) accepted++;
  w.enqueueMessage(new Uint8Array(500));
  assertEquals(accepted, 5);
  assertEquals(w.dropped, 95);
  ok(w.queuedBytes <= 1500);
  sink.open();
  await w.flushed();
  assertEquals(sink.chunks.reduce((n, c) => n + c.length, 0), 1 + 5 * 200 + 500);
});

Deno.test("InterleavedWriter reports a failed write once and stops", async () => {
  let errors = 0;
  const w = new InterleavedWriter({ write: () => Promise.reject(new Error("reset")) }, {
    ...QUEUE,
    onError: () => errors++,
  });
  w.enqueueMessage(new Uint8Array(10));
  w.enqueueMessage(new Uint8Array(10));
  await w.flushed();
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(errors, 1);
  assertEquals(w.enqueueFrame(0, new Uint8Array(1), true), false);
});

Deno.test("InterleavedWriter keeps message/frame order and splits a frame larger than its write buffer", async () => {
  const sink = gatedSink();
  const w = new InterleavedWriter(sink, { maxWriteBytes: 64, maxQueuedBytes: 1 << 20 });
  sink.hold();
  w.enqueueMessage(Uint8Array.of(1, 2)); // in flight
  await inFlight();
  const big = new Uint8Array(100).map((_, i) => i);
  w.enqueueFrame(3, Uint8Array.of(7), true);
  w.enqueueFrame(5, big, true);
  w.enqueueMessage(Uint8Array.of(9));
  sink.open();
  await w.flushed();
  const bytes = sink.chunks.flatMap((c) => [...c]);
  assertEquals(bytes, [1, 2, 0x24, 3, 0, 1, 7, 0x24, 5, 0, 100, ...big, 9]);
  assertEquals(w.queuedBytes, 0);
});

Deno.test("InterleavedWriter references frame payloads until written (no copy at enqueue)", async () => {
  const sink = gatedSink();
  sink.hold();
  const w = new InterleavedWriter(sink, QUEUE);
  w.enqueueMessage(Uint8Array.of(0)); // in flight
  await inFlight();
  const payload = Uint8Array.of(1, 1);
  w.enqueueFrame(0, payload, true);
  payload[0] = 2; // the contract forbids this; the test shows why
  sink.open();
  await w.flushed();
  assertEquals([...sink.chunks[1]!], [0x24, 0, 0, 2, 2, 1]);
});

Deno.test("InterleavedWriter holds a video frame's packets until its last one, then writes them together", async () => {
  const sink = gatedSink();
  const w = new InterleavedWriter(sink, QUEUE);
  for (let i = 0; i < 5; i++) w.enqueueFrame(0, new Uint8Array(1000), true, true);
  await inFlight();
  await inFlight();
  assertEquals(sink.chunks.length, 0, "held frames left before the end of their frame");
  w.enqueueFrame(0, new Uint8Array(500), true, false); // the marker packet
  await w.flushed();
  assertEquals(sink.chunks.map((c) => c.length), [5 * 1004 + 504]);
});

Deno.test("InterleavedWriter writes held frames when the hold timer fires if the frame's end never comes", async () => {
  const sink = gatedSink();
  const w = new InterleavedWriter(sink, QUEUE);
  w.enqueueFrame(0, new Uint8Array(10), true, true);
  w.enqueueFrame(0, new Uint8Array(10), true, true);
  // Timers have millisecond granularity (one armed at t = 10.9 ms may fire at 11.0): what holds is that the
  // frames wait for the timer, not for any time measured in fractions of HOLD_MS.
  await inFlight();
  await inFlight();
  assertEquals(sink.chunks.length, 0, "held frames left before the hold timer");
  await w.flushed();
  assertEquals(sink.chunks.map((c) => c.length), [28]);
});
