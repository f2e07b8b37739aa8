import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { hopLatency, sendLatency, splitLatencies } from "./mesh_latency.ts";

Deno.test("splitLatencies() gives one array per port and refuses a file of another size", () => {
  const all = new Float64Array([1, 2, 3, 4, 5, 6]);
  const parts = splitLatencies(new Uint8Array(all.buffer), 2, 3);
  assertEquals([...parts[0]!], [1, 2, 3]);
  assertEquals([...parts[1]!], [4, 5, 6]);
  assertThrows(() => splitLatencies(new Uint8Array(40), 2, 3), /40 bytes, expected 2 x 3/);
});

Deno.test("hopLatency() counts only packets both readers received, in µs", () => {
  // Packet 1 never reached the deeper reader, packet 3 not the shallower one.
  const from = new Float64Array([1000, 2000, 3000, NaN, 5000]);
  const to = new Float64Array([3000, NaN, 4000, 9000, 105_000]);
  const h = hopLatency(from, to);
  assertEquals(h.packets, 3);
  assertEquals([h.p50Us, h.maxUs], [2, 100]);
  assertEquals(hopLatency(new Float64Array([NaN]), new Float64Array([NaN])).packets, 0);
});

Deno.test("sendLatency() skips missing packets", () => {
  const s = sendLatency(new Float64Array([NaN, 4000, 2000, 3000]));
  assertEquals([s.packets, s.p50Us, s.p99Us, s.maxUs], [3, 3, 4, 4]);
});
