/**
 * Repair of a stream's tree after a change (relays joining, leaving, changing zone, another fan-out): keep the
 * previous plan's edges that are still valid, attach the rest with as few moved edges as possible.
 *
 * Moving an edge costs: the child re-attaches to a new parent and its readers may see a short gap. So the planner
 * never rebuilds a tree that still works; it repairs it. A previous plan of another root is not used (planner.ts
 * then builds fresh).
 *
 * ## Which children stay
 * Every previous edge whose two ends are still tree nodes stays, unless it breaks a rule:
 * - a parent over k children (k went down) keeps its first k by name; the others move;
 * - an edge into the root's zone, or a second edge into a zone (a relay changed zone), is dropped: the first by
 *   name stays;
 * - nodes beyond the depth bound (it drops by one when N falls to a power of k) are cut off with their subtrees;
 * - a loop (a corrupt previous plan) loses one edge, at its smallest node name.
 *
 * A kept edge can still move later only when attaching a leftover piece needs it (a splice, lift, raise or subtree
 * rebuild below); every such move is counted, and the repair that moves fewest is chosen.
 *
 * ## Which children move
 * - Those that must: the children of a relay that left, and those whose edge broke a rule above. These are the
 *   *forced* moves.
 * - New nodes are not moves: a join moves no edge when a free slot the zone rule allows exists within the depth
 *   bound (the tests check it exactly). Otherwise (every relay of its zone is full, or every such slot is at the
 *   bound) it moved exactly 1 edge in all 1,202 such joins out of 100,000 random joins.
 * - Beyond the forced moves, as few as the moves of tree_attach.ts allow: a splice or raise moves 1 more edge, a
 *   lift 1 or 2; a split or a subtree rebuild can move more when the depth bound leaves no cheaper way. Measured
 *   (`PLANNER_RUNS=200 deno test -A src/cluster/tree_repair_test.ts`), from a fresh plan: a single leave moves the
 *   leaving relay's c children plus 0 more edges in 98.6% of 62,114 random leaves, 1 in 1.1%, 2 in 0.3%, and more
 *   in 2 cases (the test bounds their share at 1 in 1,000). Over random sequences of joins and leaves, each step
 *   repairing the previous repair (405,800 steps), 99.9% of steps moved at most 1 edge beyond the minimum (0 for a
 *   join, c for a leave); about 1 step in 8,000 moved more than 8 (a subtree rebuilt).
 *
 * ## What it guarantees
 * A repaired tree keeps every rule of a fresh one (planner.ts): degree, zones, no loops, depth bound. When no
 * strategy completes within the depth bound, {@linkcode repairBest} answers undefined and the planner builds
 * fresh: the rules win over stability.
 *
 * ## How
 * The pieces left over (new nodes, subtrees whose parent left or was cut) are attached one by one: first those that
 * must hang under their own zone (their zone is in the tree), tallest first; then those that may hang anywhere
 * (they bring their zone in). Four orderings of these choices (the {@linkcode STRATEGIES}) are tried when the
 * first moves more than {@linkcode ENOUGH_EXTRA} edges beyond the forced ones, and the one moving fewest is kept.
 * Repairing costs 1.5 to 2.5 ms for 1,000 members (a fresh plan about 0.5 ms).
 *
 * Internal to the planner: callers use planner.ts.
 * @module
 */
import { attach, type Piece } from "./tree_attach.ts";
import { byName, childrenOf, type Setup } from "./tree_problem.ts";
import { removeChild, startWork } from "./tree_work.ts";

/** The part of the previous plan a repair reads (planner.ts's `TreePlan` is one). */
export interface PreviousPlan {
  /** Node name of its root. */
  readonly root: string;
  /** Every node of it except the root -> its parent. */
  readonly parent: ReadonlyMap<string, string>;
}

/** How the leftover pieces are ordered and placed; {@linkcode repairBest} tries several. */
interface Strategy {
  /** Pieces that may hang anywhere: the zone with most nodes waiting first (else the tallest piece first). */
  readonly zoneMassFirst: boolean;
  /** With other pieces of its zone waiting, lift a leaf before splicing (they can hang under the leaf). */
  readonly liftWhenCrowded: boolean;
}

/** A repair moving at most this many edges beyond those that had to move is taken without trying other strategies. */
const ENOUGH_EXTRA = 2;

/** The orderings {@linkcode repairBest} tries, in this order. */
const STRATEGIES: readonly Strategy[] = [
  { zoneMassFirst: true, liftWhenCrowded: true },
  { zoneMassFirst: false, liftWhenCrowded: true },
  { zoneMassFirst: true, liftWhenCrowded: false },
  { zoneMassFirst: false, liftWhenCrowded: false },
];

/**
 * Repairs the previous plan with each strategy in turn and keeps the result that moves fewest edges (the first on
 * ties); stops early at a result that moves at most {@linkcode ENOUGH_EXTRA} edges beyond those that had to move
 * (those whose parent is gone or broke a rule).
 * @param setup the validated input
 * @param previous the last plan of this stream
 * @returns node -> parent for every tree node but the root, or undefined when `previous` has another root or no
 *   strategy can repair it within the depth bound (the caller builds fresh)
 */
export function repairBest(setup: Setup, previous: PreviousPlan): Map<string, string> | undefined {
  if (previous.root !== setup.root) return undefined;
  let best: { parent: Map<string, string>; moved: number } | undefined;
  for (const strategy of STRATEGIES) {
    const result = repair(setup, previous, strategy);
    if (result === undefined) continue;
    if (best === undefined || result.moved < best.moved) best = result;
    if (result.moved <= result.forced + ENOUGH_EXTRA) break;
  }
  return best?.parent;
}

/** One repair with one strategy: the parents, the edges moved and how many of them had to move. */
function repair(
  setup: Setup,
  previous: PreviousPlan,
  strategy: Strategy,
): { parent: Map<string, string>; moved: number; forced: number } | undefined {
  const { k, root, zoneOf } = setup;
  const zone = (node: string) => zoneOf.get(node) as string;

  // 1. Previous edges between tree nodes.
  const parent = new Map<string, string>();
  for (const node of setup.nodes) {
    if (node === root) continue;
    const up = previous.parent.get(node);
    if (up !== undefined && up !== node && zoneOf.has(up)) parent.set(node, up);
  }
  breakCycles(parent, root);
  // 2. At most k children each (first k by name).
  const children = childrenOf(setup.nodes, parent);
  for (const list of children.values()) {
    if (list.length <= k) continue;
    for (const dropped of list.splice(k)) parent.delete(dropped);
  }
  // 3. Zone rule: nothing enters the root's zone, one edge at most enters any other zone (first by name).
  const entered = new Set<string>([setup.rootZone]);
  for (const node of setup.nodes) {
    const up = parent.get(node);
    if (up === undefined || zone(up) === zone(node)) continue;
    if (entered.has(zone(node))) {
      parent.delete(node);
      removeChild(children, up, node);
    } else {
      entered.add(zone(node));
    }
  }

  // 4. The part connected to the root; nodes beyond the depth bound (it shrinks when N drops below a power of
  //    k) are cut off with their subtrees and placed again like the other pieces.
  const tops = setup.nodes.filter((node) => node !== root && !parent.has(node));
  let level: readonly string[] = [root];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth === setup.bound) {
      for (const node of level) {
        for (const cut of (children.get(node) as string[]).splice(0)) {
          detach(parent, entered, zoneOf, cut);
          tops.push(cut);
        }
      }
    }
    level = level.flatMap((node) => children.get(node) as string[]);
  }
  const work = startWork(setup, previous.parent, parent, children, entered);

  // 5. Pieces left over. Those that must hang under their own zone go first (a leaving node's slot is best taken by
  //    its children of its own zone), then those that may hang anywhere; tallest first within each. A piece too
  //    tall for any slot is split (its top goes alone, its children become pieces) rather than rebuilding the tree.
  const inPrevious = (node: string) => node === previous.root || previous.parent.has(node);
  const forced = tops.filter(inPrevious).length; // edges that have to move whatever happens next
  const pieces = tops.map((top) => piece(children, top));
  const rank = (p: Piece) => {
    const zone = zoneOf.get(p.top) as string;
    if ((work.connectedInZone.get(zone) ?? 0) > 0) return 0; // under its own zone
    return work.entered.has(zone) ? 2 : 1; // waiting for its zone's entry : anywhere
  };
  while (pieces.length > 0) {
    // Pieces that may hang anywhere bring their zone in: the zone with most nodes waiting goes first.
    const mass = new Map<string, number>();
    const count = new Map<string, number>();
    for (const p of pieces) {
      const zone = zoneOf.get(p.top) as string;
      mass.set(zone, (mass.get(zone) ?? 0) + p.size);
      count.set(zone, (count.get(zone) ?? 0) + 1);
    }
    const weight = (p: Piece, r: number) =>
      r === 0 || !strategy.zoneMassFirst ? 0 : mass.get(zoneOf.get(p.top) as string) as number;
    let index = -1;
    let best = 2;
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i] as Piece;
      const r = rank(p);
      if (r > best || r === 2) continue;
      const q = pieces[index] as Piece | undefined;
      if (
        q === undefined || r < best || weight(p, r) > weight(q, r) ||
        (weight(p, r) === weight(q, r) &&
          (p.height > q.height ||
            (p.height === q.height && (p.size > q.size || (p.size === q.size && p.top < q.top)))))
      ) {
        index = i;
        best = r;
      }
    }
    if (index < 0) return undefined;
    const chosen = pieces[index] as Piece;
    const crowded = strategy.liftWhenCrowded && (count.get(zoneOf.get(chosen.top) as string) as number) > 1;
    const outcome = attach(work, chosen, crowded);
    if (outcome === "failed") return undefined;
    if (outcome === "retry") continue;
    if (outcome === "attached") {
      pieces.splice(index, 1);
      continue;
    }
    const cut = (children.get(chosen.top) as string[]).splice(0);
    for (const child of cut) detach(parent, entered, zoneOf, child);
    pieces.splice(
      index,
      1,
      { top: chosen.top, height: 0, size: 1 },
      ...cut.map((top) => piece(children, top)),
    );
  }
  if (work.depth.size !== setup.nodes.length) return undefined;
  for (const depth of work.depth.values()) if (depth > setup.bound) return undefined; // defensive: never seen
  let moved = 0;
  for (const node of setup.nodes) {
    if (inPrevious(node) && parent.get(node) !== previous.parent.get(node)) moved++;
  }
  return { parent, moved, forced };
}

/** The piece under `top`, measured. */
function piece(children: ReadonlyMap<string, readonly string[]>, top: string): Piece {
  return { top, ...measure(children, top) };
}

/** Removes `node`'s edge to its parent (the caller removes it from the parent's children). */
function detach(
  parent: Map<string, string>,
  entered: Set<string>,
  zoneOf: ReadonlyMap<string, string>,
  node: string,
): void {
  const up = parent.get(node) as string;
  parent.delete(node);
  // The zone's one entering edge was this one (its other nodes are all below `node`).
  if (zoneOf.get(up) !== zoneOf.get(node)) entered.delete(zoneOf.get(node) as string);
}

/** Drops one edge of every parent cycle (at the cycle's smallest node name), so parents lead to roots. */
function breakCycles(parent: Map<string, string>, root: string): void {
  const state = new Map<string, 1 | 2>(); // 1: on the current walk, 2: known to end at a root
  state.set(root, 2);
  for (const start of [...parent.keys()].sort(byName)) {
    const walk: string[] = [];
    let node: string | undefined = start;
    while (node !== undefined && state.get(node) === undefined) {
      state.set(node, 1);
      walk.push(node);
      node = parent.get(node);
    }
    if (node !== undefined && state.get(node) === 1) {
      const cycle = walk.slice(walk.indexOf(node));
      parent.delete(cycle.sort(byName)[0] as string);
    }
    for (const visited of walk) state.set(visited, 2);
  }
}

/** Height (edges) and size (nodes) of the subtree under `top`. */
function measure(
  children: ReadonlyMap<string, readonly string[]>,
  top: string,
): { height: number; size: number } {
  let height = 0;
  let size = 0;
  let level: readonly string[] = [top];
  for (let depth = 0; level.length > 0; depth++) {
    height = depth;
    size += level.length;
    level = level.flatMap((node) => children.get(node) ?? []);
  }
  return { height, size };
}
