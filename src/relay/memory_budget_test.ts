/**
 * Tests of {@linkcode MemoryBudget} and of its users: GOP caches give way when it is full and give their bytes
 * back, and a TCP reader's queue counts against it.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import { MemoryBudget } from "./memory_budget.ts";
import { GopCache } from "./gop_cache.ts";
import { InterleavedWriter } from "../rtsp/interleaved_writer.ts";
import { writeRtpHeader } from "../rtp/packet.ts";
import { configDefaults } from "../config/schema.ts";

function h264(seq: number, nal: number, size = 100): Uint8Array {
  const p = new Uint8Array(size);
  writeRtpHeader(p, 0, { marker: true, payloadType: 96, sequence: seq, timestamp: seq, ssrc: 1 });
  p[12] = nal;
  return p;
}

Deno.test("MemoryBudget grants what fits, counts refusals, and stops admitting past 90 %", () => {
  const b = new MemoryBudget(1000);
  ok(b.reserve("gop_cache", 600));
  ok(!b.reserve("reader_queue", 500), "over the bound");
  ok(b.reserve("reader_queue", 290));
  equal(b.used, 890);
  ok(b.admitting);
  b.force("reader_queue", 20);
  ok(!b.admitting, "910 of 1000");
  assertEquals(b.refusals, { gop_cache: 0, reader_queue: 1 });
  b.release("gop_cache", 600);
  equal(b.usedBy("gop_cache"), 0);
  equal(b.usedBy("reader_queue"), 310);
  ok(new MemoryBudget(0).reserve("gop_cache", 1e12), "0: no bound");
});

Deno.test("GopCache stops caching when the budget is full, and gives its bytes back on each new GOP", () => {
  const budget = new MemoryBudget(1000);
  const a = new GopCache("H264", 64 * 1024, budget.for("gop_cache"));
  const b = new GopCache("H264", 64 * 1024, budget.for("gop_cache"));
  a.push(h264(1, 0x65, 400));
  a.push(h264(2, 0x41, 400));
  equal(budget.used, 800);
  b.push(h264(1, 0x65, 100));
  b.push(h264(2, 0x41, 300)); // 1200 > 1000
  equal(b.packets.length, 0, "b gave way");
  equal(b.stats.budgetRefusals, 1);
  equal(budget.used, 800, "b's first packet given back");
  a.push(h264(3, 0x65, 50)); // a new GOP frees the old one
  equal(budget.used, 50);
  a.clear();
  equal(budget.used, 0);
});

Deno.test("GopCache holds at most maxBytes / 512 packets: tiny packets cannot make a huge burst", () => {
  const cache = new GopCache("H264", 64 * 1024);
  equal(cache.maxPackets, 128);
  cache.push(h264(0, 0x65, 13));
  for (let i = 1; i < 127; i++) cache.push(h264(i, 0x41, 13));
  equal(cache.packets.length, 127);
  cache.push(h264(127, 0x41, 13));
  cache.push(h264(128, 0x41, 13));
  equal(cache.packets.length, 0, "the GOP outgrew the packet bound");
  equal(cache.stats.overflows, 1);
  const gen = cache.generation;
  cache.push(h264(129, 0x65, 13));
  equal(cache.generation, gen + 1);
});

Deno.test("InterleavedWriter counts its queue against the budget and says since when it drops everything", async () => {
  const budget = new MemoryBudget(300);
  let release: () => void = () => {};
  const blocked = new Promise<void>((r) => (release = r));
  let clock = 5;
  const w = new InterleavedWriter({
    write: async (p) => {
      await blocked;
      return p.length;
    },
  }, {
    maxQueuedBytes: configDefaults().readerQueueBytes,
    budget: budget.for("reader_queue"),
    now: () => clock,
  });
  ok(w.enqueueFrame(0, new Uint8Array(100), true));
  ok(w.enqueueFrame(0, new Uint8Array(100), true));
  equal(budget.used, 208);
  equal(w.droppingSince, null);
  ok(!w.enqueueFrame(0, new Uint8Array(100), true), "the budget is full");
  equal(w.droppingSince, 5);
  clock = 9;
  ok(!w.enqueueFrame(0, new Uint8Array(100), true));
  equal(w.droppingSince, 5, "dropping since the first drop");
  w.enqueueMessage(new Uint8Array(50)); // answers are never dropped
  equal(budget.used, 258);
  release();
  await w.flushed();
  equal(budget.used, 0, "written bytes are given back");
  ok(w.enqueueFrame(0, new Uint8Array(10), true));
  equal(w.droppingSince, null, "taking frames again");
  w.close();
  equal(budget.used, 0, "closing gives back what was queued");
});
