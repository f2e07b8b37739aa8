/**
 * A binary min-heap over any item type, ordered by a caller's `before(a, b)` predicate.
 *
 * The tree planner uses it twice: to hand out spare slots to the zone with the most left (tree_build.ts), and to
 * find the shallowest relay with a free slot while a tree is repaired (tree_work.ts). It lives apart so its one
 * job, keeping the heap order through `push` and `pop`, is tested on its own (min_heap_test.ts).
 *
 * `before` must be a strict weak order (irreflexive, transitive; items neither before the other are ties). Ties
 * come out in no promised order: callers that need a deterministic order break ties inside `before` (the planner
 * compares names last). The heap reads `before` on every `push` and `pop` and keeps no keys of its own: an item's
 * order must not change while the item is inside (take it out, change it, push it again). `push` and `pop` cost
 * O(log n), `peek` and `size` O(1); nothing is allocated per operation besides the array growing.
 *
 * @example
 * ```ts
 * import { MinHeap } from "./min_heap.ts";
 * const heap = new MinHeap<number>((a, b) => a < b);
 * for (const n of [5, 1, 4]) heap.push(n);
 * heap.pop(); // 1
 * heap.peek(); // 4
 * heap.size; // 2
 * ```
 * @module
 */

/**
 * A binary min-heap under `before` (true when `a` comes out first). `T` should not include `undefined`: `peek` and
 * `pop` answer `undefined` for an empty heap.
 */
export class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #before: (a: T, b: T) => boolean;

  /**
   * An empty heap.
   * @param before true when `a` must come out before `b`: a strict weak order (see the module doc)
   */
  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  /** Number of items in the heap. */
  get size(): number {
    return this.#items.length;
  }

  /**
   * The item `pop` would return, left in place.
   * @returns the first item, or undefined when the heap is empty
   */
  peek(): T | undefined {
    return this.#items[0];
  }

  /**
   * Adds an item (duplicates are kept: the same value pushed twice comes out twice).
   * @param item the item to add
   */
  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.#before(items[i] as T, items[up] as T)) break;
      [items[i], items[up]] = [items[up] as T, items[i] as T];
      i = up;
    }
  }

  /**
   * Removes and returns the first item: no item left in the heap comes `before` it.
   * @returns the first item, or undefined when the heap is empty
   */
  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop() as T;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let best = i;
        if (left < items.length && this.#before(items[left] as T, items[best] as T)) best = left;
        if (right < items.length && this.#before(items[right] as T, items[best] as T)) best = right;
        if (best === i) break;
        [items[i], items[best]] = [items[best] as T, items[i] as T];
        i = best;
      }
    }
    return top;
  }
}
