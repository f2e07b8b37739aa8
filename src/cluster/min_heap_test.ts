/**
 * Tests of {@linkcode MinHeap}: examples, then properties against a sorted array as the model (pushes then pops,
 * interleaved pushes, pops and peeks, ties, another order).
 * @module
 */
import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import fc from "fast-check";
import { MinHeap } from "./min_heap.ts";

const ascending = (a: number, b: number) => a < b;

/** Pops everything left, in order. */
function drain<T>(heap: MinHeap<T>): T[] {
  const out: T[] = [];
  while (heap.size > 0) out.push(heap.pop() as T);
  return out;
}

Deno.test("MinHeap pops the smallest first and keeps duplicates", () => {
  const heap = new MinHeap<number>(ascending);
  for (const n of [5, 1, 4, 1, 3, 9, 2]) heap.push(n);
  equal(heap.size, 7);
  equal(heap.peek(), 1);
  equal(heap.size, 7); // peek leaves it in place
  assertEquals(drain(heap), [1, 1, 2, 3, 4, 5, 9]);
});

Deno.test("MinHeap answers undefined when empty, and is usable again after", () => {
  const heap = new MinHeap<string>((a, b) => a < b);
  equal(heap.size, 0);
  equal(heap.peek(), undefined);
  equal(heap.pop(), undefined);
  heap.push("b");
  equal(heap.pop(), "b");
  equal(heap.pop(), undefined);
  equal(heap.size, 0);
  heap.push("z");
  heap.push("a");
  assertEquals(drain(heap), ["a", "z"]);
});

Deno.test("MinHeap follows the order it is given: greater-first makes a max-heap", () => {
  const heap = new MinHeap<number>((a, b) => a > b);
  for (const n of [3, 7, 1, 7, -2]) heap.push(n);
  assertEquals(drain(heap), [7, 7, 3, 1, -2]);
});

Deno.test("MinHeap pops any pushed integers in the order of a sorted array", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 200 }), (values) => {
      const heap = new MinHeap<number>(ascending);
      for (const v of values) heap.push(v);
      equal(heap.size, values.length);
      assertEquals(drain(heap), [...values].sort((a, b) => a - b));
    }),
  );
});

/** One step of the interleaved model test. */
type Op = { push: number } | "pop" | "peek";

Deno.test("MinHeap agrees with a sorted array over interleaved push, pop and peek", () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ push: fc.integer({ min: 0, max: 20 }) }),
    fc.constant("pop" as const),
    fc.constant("peek" as const),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const heap = new MinHeap<number>(ascending);
      const model: number[] = []; // kept sorted
      for (const step of ops) {
        if (step === "pop") equal(heap.pop(), model.shift());
        else if (step === "peek") equal(heap.peek(), model[0]);
        else {
          heap.push(step.push);
          model.push(step.push);
          model.sort((a, b) => a - b);
        }
        equal(heap.size, model.length);
      }
      assertEquals(drain(heap), model);
    }),
  );
});

interface Keyed {
  readonly key: number;
  readonly id: number;
}

Deno.test("MinHeap with ties: keys come out in order, every item exactly once", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 150 }), (keys) => {
      const items: Keyed[] = keys.map((key, id) => ({ key, id }));
      const heap = new MinHeap<Keyed>((a, b) => a.key < b.key); // ties between equal keys
      for (const item of items) heap.push(item);
      const out = drain(heap);
      assertEquals(out.map((item) => item.key), [...keys].sort((a, b) => a - b));
      assertEquals(out.map((item) => item.id).sort((a, b) => a - b), items.map((item) => item.id));
    }),
  );
});

Deno.test("MinHeap with ties broken inside the order comes out exactly sorted (as the planner's free slots)", () => {
  const before = (a: Keyed, b: Keyed) => a.key !== b.key ? a.key < b.key : a.id < b.id;
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 150 }), fc.integer(), (keys, salt) => {
      // Pushed in a scrambled order, so the ids do not arrive sorted.
      const items: Keyed[] = keys.map((key, i) => ({ key, id: (i * 7919 + salt) % 100_003 }));
      const heap = new MinHeap<Keyed>(before);
      for (const item of items) heap.push(item);
      const sorted = [...items].sort((a, b) => a.key - b.key || a.id - b.id);
      assertEquals(drain(heap), sorted);
    }),
  );
});
