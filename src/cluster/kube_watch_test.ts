import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";
import { decodeWatchEvent, LineSplitter, readLines } from "./kube_watch.ts";

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk);
      c.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>, maxLine?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const line of readLines(body, maxLine)) out.push(line);
  return out;
}

Deno.test("readLines() reassembles lines split at every byte boundary, multi-byte characters included", async () => {
  const text = '{"type":"ADDED","object":{"n":"zoné-ü"}}\n{"type":"BOOKMARK"}\r\n\nlast';
  const bytes = new TextEncoder().encode(text);
  const expected = ['{"type":"ADDED","object":{"n":"zoné-ü"}}', '{"type":"BOOKMARK"}', "", "last"];
  for (let cut = 0; cut <= bytes.length; cut++) {
    assertEquals(
      await collect(streamOf([bytes.subarray(0, cut), bytes.subarray(cut)])),
      expected,
      `cut ${cut}`,
    );
  }
  // one byte per chunk
  assertEquals(await collect(streamOf([...bytes].map((b) => new Uint8Array([b])))), expected);
});

Deno.test("readLines() refuses a line longer than its limit and cancels the stream", async () => {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new TextEncoder().encode("x".repeat(64)));
    },
    cancel() {
      cancelled = true;
    },
  });
  await assertRejects(collect(body, 100), /exceeds 100 characters/);
  assert(cancelled);
});

Deno.test("LineSplitter.next() returns completed lines one by one and holds the unfinished one", () => {
  const s = new LineSplitter(10);
  s.push("a\r\nbc");
  assertEquals([s.next(), s.next()], ["a", undefined]);
  s.push("d\n\nxyz");
  assertEquals([s.next(), s.next(), s.next()], ["bcd", "", undefined]);
  assertEquals(s.end(), "xyz");
  assertEquals(s.end(), undefined);
  s.push("0123456789");
  assertEquals(s.next(), undefined, "a line of exactly the limit is kept");
  s.push("A");
  assertThrows(() => s.next(), /a line exceeds 10 characters/);
});

Deno.test("LineSplitter.next() returns the lines completed before a too long rest, then refuses it", () => {
  const s = new LineSplitter(4);
  s.push("ok\n0123456789");
  assertEquals(s.next(), "ok");
  assertThrows(() => s.next(), /exceeds 4 characters/);
});

Deno.test("decodeWatchEvent() types each event and refuses what it cannot read", () => {
  const ctx = 'Watching "/api/v1/nodes"';
  const node = { metadata: { name: "n", resourceVersion: "5" } };
  assertEquals(decodeWatchEvent(JSON.stringify({ type: "MODIFIED", object: node }), ctx), {
    type: "MODIFIED",
    object: node,
  });
  const mark = { metadata: { resourceVersion: "9" } };
  assertEquals(decodeWatchEvent(JSON.stringify({ type: "BOOKMARK", object: mark }), ctx), {
    type: "BOOKMARK",
    object: mark,
  });
  const gone = { kind: "Status", code: 410, reason: "Expired" };
  assertEquals(decodeWatchEvent(JSON.stringify({ type: "ERROR", object: gone }), ctx), {
    type: "ERROR",
    status: gone,
  });
  assertEquals(decodeWatchEvent('{"type":"SURPRISE"}', ctx), { type: "UNKNOWN", sent: "SURPRISE" });
  assertEquals(decodeWatchEvent(" \t", ctx), undefined);
  assertThrows(
    () => decodeWatchEvent('{"type":"DELETED"}', ctx),
    /^Error: Watching "\/api\/v1\/nodes" failed: a DELETED event has no object$/,
  );
  assertThrows(() => decodeWatchEvent('{"type":"ADDED",', ctx), SyntaxError);
});
