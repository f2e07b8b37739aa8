import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { PortPairAllocator } from "./port_allocator.ts";

Deno.test("PortPairAllocator hands out even ports and exhausts the range", () => {
  const a = new PortPairAllocator(10000, 10005);
  assertEquals([a.allocate(), a.allocate(), a.allocate(), a.allocate()], [10000, 10002, 10004, null]);
  a.release(10002);
  assertEquals(a.free, 1);
  assertEquals(a.allocate(), 10002);
});

Deno.test("PortPairAllocator reuses a released pair last", () => {
  const a = new PortPairAllocator(20000, 20007);
  const p = a.allocate()!;
  a.release(p);
  assertEquals(a.allocate(), 20002);
});
