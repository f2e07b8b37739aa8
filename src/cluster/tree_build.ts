/**
 * Fresh construction of a distribution tree: the planner's answer when there is no usable previous plan (the
 * first plan of a stream, a new root, or a repair that could not complete).
 *
 * ## What it builds
 * A tree over the root and the wanting members that keeps every rule of planner.ts: at most k children per
 * relay; at most one edge entering each zone and none entering the root's zone (each zone is one connected
 * subtree: one copy enters it, then fans out inside); no loops; depth within `depthBound(N, k)` =
 * ceil(log_k N) + 1 (N - 1 for k = 1). It is deterministic: ties are broken by node and zone names.
 *
 * ## How: level by level, aiming at the smallest depth D that works
 * Starting from the depth of a full k-ary tree of N nodes, then D + 1... Zones other than the root's wait in a
 * queue, largest first (then by zone name); a zone's entry is its first node by name. At level t, each zone
 * already entered keeps just enough of its own slots at that level for its remaining nodes to fit below
 * (ceil(remaining / fullTree(D - t)) slots); the other slots (of finished zones, then the spare ones of
 * unfinished zones, most spare first) take the entries of queued zones, largest first; each zone's own nodes fill
 * its slots that are left, spread over its relays of the level above. An attempt fails when a queued zone no
 * longer fits below the levels left. With k = 1 the tree is a chain: the root's zone first, then each zone in
 * one piece, largest first. About 0.5 ms for 1,000 members in 10 zones with k = 4 (3 ms for 5,000).
 *
 * ## The depth bound: tested, not proven
 * Degree, zones and no loops hold by construction. The depth bound is tested: the construction met it on every
 * input checked: every split of N <= 50 nodes into zone sizes with every choice of the root's zone, for k = 2..5
 * (6.5 million inputs per k; run on a model of the construction over zone sizes, itself checked identical to
 * planTree on all 694,000 such inputs with N <= 32); 826,000 structured and random inputs up to 5,000 nodes;
 * 820,000 inputs found by hill-climbing towards deep trees at N just below k^L; and the property tests
 * (tree_build_test.ts). With k = 2 it never needed the + 1 (depth <= ceil(log_2 N)). The + 1 is needed for k >= 3:
 * a root alone with one zone of 2 nodes (N = 3) has depth 2 > ceil(log_3 3); 1000 nodes in two zones of 489 (the
 * root's) and 511 have depth 6 > ceil(log_4 1000) = 5 for k = 4, the least possible (511 nodes do not fit under
 * one relay at depth 1 within 4 more levels). Should an input ever need more, the construction still returns a
 * valid tree, one level deeper at a time; it never throws.
 *
 * Repair (tree_attach.ts) also uses {@linkcode buildShallowest} to rebuild one subtree within the depth left.
 * Internal to the planner: callers use planner.ts.
 * @module
 */
import { MinHeap } from "./min_heap.ts";
import { fullTree, type LevelProblem, type ZoneNodes } from "./tree_problem.ts";

/**
 * Builds the tree from scratch: a chain for k = 1, else the level construction of the smallest depth it reaches.
 * @param setup the nodes by zone, the root on top, and the fan-out
 * @returns node -> parent for every node but the root
 * @throws {Error} never in practice: only if no depth up to N - 1 worked (a planner bug)
 */
export function buildFresh(setup: LevelProblem): Map<string, string> {
  if (setup.k === 1) return buildChain(setup);
  // Depth n - 1 always succeeds (every level places at least one node).
  const parent = buildShallowest(setup, Math.max(setup.size - 1, 0));
  if (parent === undefined) {
    throw new Error(`Cannot plan tree: no construction for ${setup.size} nodes (planner bug)`);
  }
  return parent;
}

/**
 * The level construction of the smallest depth it reaches, if that is at most `limit` (k >= 2).
 * @param problem the nodes by zone, the root on top, and the fan-out
 * @param limit the deepest depth accepted
 * @returns node -> parent for every node but the root, or undefined when no depth up to `limit` works
 */
export function buildShallowest(problem: LevelProblem, limit: number): Map<string, string> | undefined {
  let depth = 0;
  while (fullTree(problem.k, depth) < problem.size) depth++;
  for (; depth <= limit; depth++) {
    const parent = buildLevels(problem, depth);
    if (parent !== undefined) return parent;
  }
  return undefined;
}

/** k = 1: the root's zone, then every other zone in one piece (largest first). */
function buildChain(setup: LevelProblem): Map<string, string> {
  const parent = new Map<string, string>();
  let last = setup.root;
  for (const zone of [setup.rootZoneNodes, ...setup.otherZones]) {
    for (const node of zone.nodes) {
      if (node === setup.root) continue;
      parent.set(node, last);
      last = node;
    }
  }
  return parent;
}

/** A zone during the level-by-level construction. */
interface ZoneBuild {
  readonly nodes: readonly string[];
  /** How many of `nodes` are placed (they are placed in order). */
  placed: number;
  /** Nodes of this zone placed on the previous level: their slots are this level's. */
  prev: readonly string[];
}

/** Tries to build the tree with depth at most `maxDepth`; undefined when this construction cannot. */
function buildLevels(setup: LevelProblem, maxDepth: number): Map<string, string> | undefined {
  const k = setup.k;
  const parent = new Map<string, string>();
  const pending = setup.otherZones;
  let next = 0; // first zone of `pending` not yet entered
  let open: ZoneBuild[] = [{ nodes: setup.rootZoneNodes.nodes, placed: 1, prev: [setup.root] }];
  for (let level = 1; level <= maxDepth; level++) {
    if (next >= pending.length && open.every((z) => z.placed === z.nodes.length)) break;
    const below = fullTree(k, maxDepth - level); // what one slot of this level can hold
    const count = open.length;
    const own: number[] = new Array(count);
    const free: number[] = new Array(count); // slots left over after all remaining nodes
    const spare: number[] = new Array(count); // slots the zone could use but can give away
    let totalFree = 0;
    let totalSpare = 0;
    for (let i = 0; i < count; i++) {
      const zone = open[i] as ZoneBuild;
      const slots = k * zone.prev.length;
      const remaining = zone.nodes.length - zone.placed;
      const keep = Math.ceil(remaining / below);
      if (slots < keep) return undefined;
      own[i] = slots;
      free[i] = Math.max(0, slots - remaining);
      spare[i] = Math.min(slots, remaining) - keep;
      totalFree += free[i] as number;
      totalSpare += spare[i] as number;
    }
    // Entries of queued zones, largest first, into free slots first, then spare ones (most spare first).
    const entries = Math.min(pending.length - next, totalFree + totalSpare);
    if (entries > 0 && (pending[next] as ZoneNodes).nodes.length > below) return undefined;
    const taken: number[] = new Array(count).fill(0);
    let need = entries;
    for (let i = 0; i < count && need > 0; i++) {
      const take = Math.min(free[i] as number, need);
      taken[i] = take;
      need -= take;
    }
    if (need > 0) takeSpare(spare, taken, need);
    const entered: ZoneBuild[] = [];
    for (let i = 0; i < count; i++) {
      const zone = open[i] as ZoneBuild;
      for (let e = 0; e < (taken[i] as number); e++) {
        const entering = pending[next++] as ZoneNodes;
        const entry = entering.nodes[0] as string;
        const slot = (own[i] as number) - 1 - e;
        parent.set(entry, zone.prev[slot % zone.prev.length] as string);
        entered.push({ nodes: entering.nodes, placed: 1, prev: [entry] });
      }
    }
    if (
      next < pending.length && (pending[next] as ZoneNodes).nodes.length > fullTree(k, maxDepth - level - 1)
    ) {
      return undefined;
    }
    // Each zone's own nodes fill its remaining slots, spread over its parents.
    const stillOpen: ZoneBuild[] = [];
    for (let i = 0; i < count; i++) {
      const zone = open[i] as ZoneBuild;
      const remaining = zone.nodes.length - zone.placed;
      if (remaining === 0) continue;
      const units = Math.min(remaining, (own[i] as number) - (taken[i] as number));
      const placed: string[] = [];
      for (let u = 0; u < units; u++) {
        const node = zone.nodes[zone.placed + u] as string;
        parent.set(node, zone.prev[u % zone.prev.length] as string);
        placed.push(node);
      }
      zone.placed += units;
      zone.prev = placed;
      stillOpen.push(zone);
    }
    open = stillOpen.concat(entered);
  }
  if (next < pending.length || open.some((z) => z.placed < z.nodes.length)) return undefined;
  return parent;
}

/** Takes `need` spare slots, one at a time from the zone with the most spare left (first zone on ties). */
function takeSpare(spare: readonly number[], taken: number[], need: number): void {
  const used: number[] = new Array(spare.length).fill(0); // spare slots taken so far, per zone
  const left = (i: number) => (spare[i] as number) - (used[i] as number);
  const heap = new MinHeap<number>((a, b) => left(a) !== left(b) ? left(a) > left(b) : a < b);
  for (let i = 0; i < spare.length; i++) if ((spare[i] as number) > 0) heap.push(i);
  while (need > 0) {
    const i = heap.pop();
    if (i === undefined) throw new Error("Cannot plan tree: spare slots miscounted (planner bug)");
    used[i] = (used[i] as number) + 1;
    taken[i] = (taken[i] as number) + 1;
    need--;
    if (left(i) > 0) heap.push(i);
  }
}
