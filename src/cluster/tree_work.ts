/**
 * The tree under repair (tree_repair.ts, tree_attach.ts): the edges kept so far, which nodes are connected to the
 * root and at what depth, which zones are entered, and where the free slots are.
 *
 * A repair starts from the previous plan's valid edges: the part hanging from the root is *connected*, the rest
 * waits in pieces. Attaching a piece links its top under a connected node and {@linkcode connect}s the piece,
 * which records the depth of each of its nodes and offers their free slots.
 *
 * Free slots are kept in min-heaps (min_heap.ts), shallowest first then by name, one per zone and one over all
 * zones: a join goes under its own zone when the zone is in the tree (so no second copy enters it), anywhere
 * otherwise. The heaps are pruned lazily: a slot stays in them after its node fills up or moves to another depth,
 * and {@linkcode shallowestFree} drops such stale entries when they reach the top. A node that gains a free slot
 * again (a child was taken from it) or moves is simply offered again.
 *
 * Internal to the planner: callers use planner.ts.
 * @module
 */
import { MinHeap } from "./min_heap.ts";
import type { Setup } from "./tree_problem.ts";

/** Tree under construction during a repair. */
export interface Work {
  /** The validated input. */
  readonly setup: Setup;
  /** Parents in the previous plan (to tell which edges already moved). */
  readonly previous: ReadonlyMap<string, string>;
  /** Node -> parent, for every edge kept or made so far (connected or not). */
  readonly parent: Map<string, string>;
  /** Node -> children, for every tree node; agrees with `parent`. */
  readonly children: Map<string, string[]>;
  /** Depth of every node connected to the root. */
  readonly depth: Map<string, number>;
  /** Connected nodes per zone. */
  readonly connectedInZone: Map<string, number>;
  /** Zones with an edge entering them (the root's zone counts as entered). */
  readonly entered: Set<string>;
  /** Connected nodes with a free slot, shallowest first, per zone (lazily pruned). */
  readonly freeInZone: Map<string, MinHeap<Slot>>;
  /** Connected nodes with a free slot, shallowest first, over all zones (lazily pruned). */
  readonly freeAll: MinHeap<Slot>;
}

/** A free slot as offered: the node and its depth at the time (stale once either changed). */
export interface Slot {
  /** The node with fewer than k children. */
  readonly node: string;
  /** Its depth when offered. */
  readonly depth: number;
}

function slotBefore(a: Slot, b: Slot): boolean {
  return a.depth !== b.depth ? a.depth < b.depth : a.node < b.node;
}

/**
 * Starts a repair from the edges kept: connects the part hanging from the root.
 * @param setup the validated input
 * @param previous parents in the previous plan
 * @param parent the edges kept (the work takes it over and changes it)
 * @param children the children lists of `parent`, one per tree node (taken over too)
 * @param entered zones with a kept entering edge, the root's zone included (taken over too)
 * @returns the work, with the root's part connected and its free slots offered
 */
export function startWork(
  setup: Setup,
  previous: ReadonlyMap<string, string>,
  parent: Map<string, string>,
  children: Map<string, string[]>,
  entered: Set<string>,
): Work {
  const work: Work = {
    setup,
    previous,
    parent,
    children,
    depth: new Map(),
    connectedInZone: new Map(),
    entered,
    freeInZone: new Map(),
    freeAll: new MinHeap(slotBefore),
  };
  connect(work, setup.root, 0);
  return work;
}

/**
 * Marks the subtree under `top` connected with `top` at depth `depth`, and offers its free slots (also when the
 * subtree was connected already and only moved).
 * @param work the tree under repair
 * @param top the subtree's top, already linked under a connected node (or the root)
 * @param depth the depth of `top`
 */
export function connect(work: Work, top: string, depth: number): void {
  const { zoneOf, k } = work.setup;
  let level: readonly string[] = [top];
  for (let d = depth; level.length > 0; d++) {
    for (const node of level) {
      const firstTime = !work.depth.has(node);
      work.depth.set(node, d);
      const zone = zoneOf.get(node) as string;
      if (firstTime) work.connectedInZone.set(zone, (work.connectedInZone.get(zone) ?? 0) + 1);
      if ((work.children.get(node) as string[]).length < k) offer(work, node, d);
    }
    level = level.flatMap((node) => work.children.get(node) as string[]);
  }
}

/**
 * Offers a free slot of a connected node (to its zone's heap and to the overall one).
 * @param work the tree under repair
 * @param node a connected node with fewer than k children
 * @param depth its depth
 */
export function offer(work: Work, node: string, depth: number): void {
  const zone = work.setup.zoneOf.get(node) as string;
  let heap = work.freeInZone.get(zone);
  if (heap === undefined) work.freeInZone.set(zone, heap = new MinHeap(slotBefore));
  heap.push({ node, depth });
  work.freeAll.push({ node, depth });
}

/**
 * The shallowest connected node with a free slot in `heap` (then the first by name), dropping stale entries.
 * @param work the tree under repair
 * @param heap `work.freeAll` or one of `work.freeInZone`
 * @returns the node, or undefined when no slot is free
 */
export function shallowestFree(work: Work, heap: MinHeap<Slot> | undefined): string | undefined {
  while (heap !== undefined && heap.size > 0) {
    const slot = heap.peek() as Slot;
    const full = (work.children.get(slot.node) as string[]).length >= work.setup.k;
    if (!full && work.depth.get(slot.node) === slot.depth) return slot.node;
    heap.pop();
  }
  return undefined;
}

/**
 * Links `child` under `parent` (the caller connects it and updates the zones entered).
 * @param work the tree under repair
 * @param parent the new parent
 * @param child a node without a parent
 */
export function linkChild(work: Work, parent: string, child: string): void {
  work.parent.set(child, parent);
  const list = work.children.get(parent) as string[];
  list.push(child);
}

/**
 * Removes `child` from the children of `parent` (the caller changes or deletes the child's parent).
 * @param children node -> children
 * @param parent the parent
 * @param child one of its children
 */
export function removeChild(children: Map<string, string[]>, parent: string, child: string): void {
  const list = children.get(parent) as string[];
  list.splice(list.indexOf(child), 1);
}

/**
 * Height of the subtree under every connected node.
 * @param work the tree under repair
 * @returns connected node -> longest path down from it, in edges (0 for a leaf)
 */
export function connectedHeights(work: Work): Map<string, number> {
  const heights = new Map<string, number>();
  const order: string[] = [work.setup.root];
  for (let i = 0; i < order.length; i++) order.push(...(work.children.get(order[i] as string) as string[]));
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i] as string;
    let height = 0;
    for (const child of work.children.get(node) as string[]) {
      height = Math.max(height, (heights.get(child) as number) + 1);
    }
    heights.set(node, height);
  }
  return heights;
}
