/**
 * Where a leftover piece goes during a repair (tree_repair.ts): the moves that attach one subtree to the tree
 * under repair (tree_work.ts) without breaking a rule, cheapest first.
 *
 * A piece is a subtree whose top has no parent: a node that joined, or the part below a relay that left (or below
 * an edge that broke a rule). Its own edges stay; only the edge above its top is new. {@linkcode attach} tries, in
 * this order, stopping at the first that works:
 * 1. **A free slot**: the shallowest one the zone rule allows (under a node of the piece's zone when that zone is
 *    in the tree; anywhere when the piece brings its zone in), when the piece fits there within the depth bound.
 *    No edge moves besides the piece's own.
 * 2. **Splice** ({@linkcode splice}): the top takes the place of a child of a relay and adopts that child (one
 *    more edge moves). With other pieces of its zone waiting, a **lift** is tried first, see 3.
 * 3. **Lift** ({@linkcode lift}): a leaf is lifted to such a place and the piece hangs under it, the way a leaf
 *    takes a leaving relay's place (one or two more edges).
 * 4. **Raise** ({@linkcode raise}): the piece's zone's entry moves up to a shallower free slot, with its subtree
 *    (one more edge), and the piece is tried again.
 * 5. **Split**: the piece's top goes alone and its children become pieces (the caller does it).
 * 6. **Rebuild** ({@linkcode rebuildAround}), for a single node only: the smallest subtree around where it must go
 *    is rebuilt with the fresh construction (tree_build.ts) within the depth left; only that subtree's edges move.
 *
 * Every move keeps the rules: at most k children, at most one edge into each zone and none into the root's zone,
 * no loops, nothing deeper than the depth bound. When none works the repair gives up and the planner builds fresh.
 * All choices are deterministic (shallowest, then by name).
 *
 * Internal to the planner: callers use planner.ts.
 * @module
 */
import { buildShallowest } from "./tree_build.ts";
import { byName, levelProblem } from "./tree_problem.ts";
import {
  connect,
  connectedHeights,
  linkChild,
  offer,
  removeChild,
  shallowestFree,
  type Work,
} from "./tree_work.ts";

/** A subtree waiting to be attached. */
export interface Piece {
  /** Its top: the node without a parent. */
  readonly top: string;
  /** Edges from the top down to its deepest node (0 for a single node). */
  readonly height: number;
  /** Number of nodes. */
  readonly size: number;
}

/**
 * Attaches a piece at the shallowest slot the zone rule allows; when that slot is too deep for the piece (or its
 * zone has no free slot), splices it in, lifts a leaf to hang it under, moves its zone up, splits it, or (a single
 * node) rebuilds the subtree around where it must go, in that order (lift before splice when `crowded`: other
 * pieces of its zone are waiting).
 * @param work the tree under repair; changed in place
 * @param p the piece; its top has no parent
 * @param crowded true when other pieces of its zone are waiting (lift a leaf before splicing: they can hang under it)
 * @returns "attached" when the piece is connected, "retry" when its zone was moved up to make room (nothing else
 *   changed: try again), "split" when the piece cannot be placed within the depth bound whole (the caller splits it
 *   and retries), "failed" when even its top alone cannot be placed
 */
export function attach(work: Work, p: Piece, crowded: boolean): "attached" | "retry" | "split" | "failed" {
  const zone = work.setup.zoneOf.get(p.top) as string;
  const entering = (work.connectedInZone.get(zone) ?? 0) === 0;
  // A zone not in the tree yet can hang anywhere (this piece brings its one entering edge); the deepest connected
  // node always has a free slot. Otherwise the piece goes under a node of its own zone.
  const up = shallowestFree(work, entering ? work.freeAll : work.freeInZone.get(zone));
  if (up !== undefined) {
    const depth = (work.depth.get(up) as number) + 1;
    if (depth + p.height <= work.setup.bound) {
      linkChild(work, up, p.top);
      if (entering) work.entered.add(zone);
      connect(work, p.top, depth);
      return "attached";
    }
  }
  // With more pieces of its zone waiting, a lifted leaf is worth it: they will hang under it too.
  const placed = (crowded ? lift(work, p, true) : undefined) ?? splice(work, p) ?? lift(work, p, false);
  return placed ?? raise(work, p) ?? (p.height > 0 ? "split" : rebuildAround(work, p));
}

/** Where a node can be put between a connected node and one of its children. */
interface SpliceSite {
  readonly host: string;
  readonly child: string;
  /** Depth of the host. */
  readonly depth: number;
  /** Deepest depth reached below the spliced node. */
  readonly end: number;
}

/**
 * The splice site for a node of `zone` that ends shallowest (then the shallowest host, then names), when within the
 * depth bound. `below` is the height of what hangs under the spliced node besides the adopted child. A site is
 * valid when no zone gains a second entering edge: the spliced node either shares the adopted child's zone (it
 * inherits the child's edge), or the child is its zone's entry and the spliced node shares the host's zone or
 * brings its zone's first entering edge.
 */
function spliceSite(work: Work, zone: string, below: number): SpliceSite | undefined {
  const { zoneOf, bound } = work.setup;
  const entering = (work.connectedInZone.get(zone) ?? 0) === 0;
  const heights = connectedHeights(work);
  let best: SpliceSite | undefined;
  for (const [host, depth] of work.depth) {
    const hostZone = zoneOf.get(host) as string;
    for (const child of work.children.get(host) as string[]) {
      const childZone = zoneOf.get(child) as string;
      const valid = childZone === zone || (hostZone !== childZone && (hostZone === zone || entering));
      if (!valid) continue;
      const end = depth + 1 + Math.max(below, (heights.get(child) as number) + 1);
      if (end > bound) continue;
      if (
        best === undefined || end < best.end || (end === best.end && depth < best.depth) ||
        (end === best.end && depth === best.depth &&
          (host < best.host || (host === best.host && child < best.child)))
      ) {
        best = { host, child, depth, end };
      }
    }
  }
  return best;
}

function spliceAt(work: Work, node: string, site: SpliceSite): void {
  const zone = work.setup.zoneOf.get(node) as string;
  if ((work.connectedInZone.get(zone) ?? 0) === 0) work.entered.add(zone);
  removeChild(work.children, site.host, site.child);
  linkChild(work, site.host, node);
  linkChild(work, node, site.child);
  connect(work, node, site.depth + 1);
}

/** Puts the piece's top between a connected node and one of its children, the top adopting that child (one more
 * edge moves). */
function splice(work: Work, p: Piece): "attached" | undefined {
  if ((work.children.get(p.top) as string[]).length >= work.setup.k) return undefined;
  const site = spliceSite(work, work.setup.zoneOf.get(p.top) as string, p.height);
  if (site === undefined) return undefined;
  spliceAt(work, p.top, site);
  return "attached";
}

/**
 * Lifts a leaf to a splice site and hangs the piece under it. This is how a leaving node's place is taken when its
 * children do not fit elsewhere: a leaf takes it and adopts them (one more edge moves, two at most). The leaf is
 * the deepest of its zone (then first by name) among leaves whose parent is in the same zone, so taking it away
 * changes no zone's entry; it must share the piece's zone unless the piece brings its zone's first entering edge
 * (then a leaf alone in its zone may go too: its zone is entered again where it goes).
 * With `adoptMovedOnly`, only sites whose child already moved in this repair are taken (the lift then costs one
 * edge, and the pieces still waiting can hang under the leaf for free).
 */
function lift(work: Work, p: Piece, adoptMovedOnly: boolean): "attached" | undefined {
  const { zoneOf, k, root, bound } = work.setup;
  if (k < 2) return undefined;
  const pieceZone = zoneOf.get(p.top) as string;
  const entering = (work.connectedInZone.get(pieceZone) ?? 0) === 0;
  // The two deepest liftable leaves of each zone (two: one of them may be the child to adopt), and the two deepest
  // leaves alone in their zone (taking one away empties its zone, which it enters again where it goes).
  const leaves = new Map<string, string[]>();
  let lone: string[] = [];
  const deepestTwo = (list: string[], node: string) =>
    [...list, node].sort((a, b) =>
      (work.depth.get(b) as number) - (work.depth.get(a) as number) || byName(a, b)
    )
      .slice(0, 2);
  for (const node of work.depth.keys()) {
    if (node === root || (work.children.get(node) as string[]).length > 0) continue;
    const zone = zoneOf.get(node) as string;
    if (zoneOf.get(work.parent.get(node) as string) === zone) {
      leaves.set(zone, deepestTwo(leaves.get(zone) ?? [], node));
    } else if (entering && work.connectedInZone.get(zone) === 1) lone = deepestTwo(lone, node);
  }
  const heights = connectedHeights(work);
  let best: (SpliceSite & { leaf: string }) | undefined;
  for (const [host, depth] of work.depth) {
    const hostZone = zoneOf.get(host) as string;
    for (const child of work.children.get(host) as string[]) {
      if (adoptMovedOnly && work.previous.get(child) === host) continue;
      const childZone = zoneOf.get(child) as string;
      const end = depth + 1 + Math.max(p.height + 1, (heights.get(child) as number) + 1);
      if (end > bound || (best !== undefined && end > best.end)) continue;
      const candidates = entering
        ? [
          ...(leaves.get(childZone) ?? []),
          ...(hostZone !== childZone ? [...(leaves.get(hostZone) ?? []), ...lone] : []),
        ]
        : childZone === pieceZone || (hostZone !== childZone && hostZone === pieceZone)
        ? leaves.get(pieceZone) ?? []
        : [];
      for (const leaf of candidates) {
        if (leaf === child) continue;
        if (
          best === undefined || end < best.end || (end === best.end && depth < best.depth) ||
          (end === best.end && depth === best.depth &&
            (host < best.host ||
              (host === best.host && (child < best.child || (child === best.child && leaf < best.leaf)))))
        ) {
          best = { host, child, depth, end, leaf };
        }
      }
    }
  }
  if (best === undefined) return undefined;
  const { leaf } = best;
  const leafZone = zoneOf.get(leaf) as string;
  const from = work.parent.get(leaf) as string;
  removeChild(work.children, from, leaf);
  work.depth.delete(leaf);
  work.connectedInZone.set(leafZone, (work.connectedInZone.get(leafZone) as number) - 1);
  if (zoneOf.get(from) !== leafZone) work.entered.delete(leafZone); // a lone leaf: its zone is empty now
  offer(work, from, work.depth.get(from) as number); // `from` lost a child: it may have been full
  spliceAt(work, leaf, best);
  linkChild(work, leaf, p.top);
  if (entering) work.entered.add(pieceZone);
  connect(work, p.top, best.depth + 2);
  return "attached";
}

/**
 * Moves the piece's zone up: its entry (with everything below it) goes to the shallowest free slot outside it, when
 * that is shallower and lets the piece fit under the zone afterwards (one more edge moves: the entry's).
 */
function raise(work: Work, p: Piece): "retry" | undefined {
  const { zoneOf, k, bound, rootZone } = work.setup;
  const zone = zoneOf.get(p.top) as string;
  if (zone === rootZone || (work.connectedInZone.get(zone) ?? 0) === 0) return undefined;
  // The entry is the zone's shallowest node; the free slot of the zone that the piece would take, the shallowest.
  let entry: string | undefined;
  let free: number | undefined;
  for (const [node, depth] of work.depth) {
    if (zoneOf.get(node) !== zone) continue;
    if (entry === undefined || depth < (work.depth.get(entry) as number)) entry = node;
    if ((work.children.get(node) as string[]).length < k && (free === undefined || depth < free)) {
      free = depth;
    }
  }
  if (entry === undefined || free === undefined) return undefined;
  const entryDepth = work.depth.get(entry) as number;
  const below = new Set<string>([entry]);
  for (const node of below) for (const child of work.children.get(node) as string[]) below.add(child);
  const height = connectedHeights(work).get(entry) as number;
  let target: string | undefined;
  for (const [node, depth] of work.depth) {
    if (below.has(node) || (work.children.get(node) as string[]).length >= k) continue;
    if (
      target === undefined || depth < (work.depth.get(target) as number) ||
      (depth === work.depth.get(target) && node < target)
    ) {
      target = node;
    }
  }
  if (target === undefined) return undefined;
  const to = (work.depth.get(target) as number) + 1;
  if (to >= entryDepth || to + height > bound || to + (free - entryDepth) + 1 + p.height > bound) {
    return undefined;
  }
  removeChild(work.children, work.parent.get(entry) as string, entry);
  offer(work, work.parent.get(entry) as string, entryDepth - 1);
  linkChild(work, target, entry);
  connect(work, entry, to);
  return "retry";
}

/**
 * Last resort for a single node that fits nowhere: rebuilds the smallest subtree around where it must go (its zone's
 * entry, or the node with the shallowest free slot when its zone is new; then their ancestors up to the root) with
 * the fresh construction, within the depth left below that subtree's top. Only the edges of that subtree move.
 */
function rebuildAround(work: Work, p: Piece): "attached" | "failed" {
  const { zoneOf, k, bound } = work.setup;
  const zone = zoneOf.get(p.top) as string;
  const entering = (work.connectedInZone.get(zone) ?? 0) === 0;
  let start: string | undefined;
  if (entering) {
    start = shallowestFree(work, work.freeAll);
  } else {
    for (const [node, depth] of work.depth) {
      if (zoneOf.get(node) === zone && (start === undefined || depth < (work.depth.get(start) as number))) {
        start = node;
      }
    }
  }
  for (let top = start; top !== undefined; top = work.parent.get(top)) {
    const topDepth = work.depth.get(top) as number;
    const region: string[] = [top];
    for (let i = 0; i < region.length; i++) {
      region.push(...(work.children.get(region[i] as string) as string[]));
    }
    region.push(p.top);
    region.sort(byName);
    const parent = buildShallowest(levelProblem(k, top, region, zoneOf), bound - topDepth);
    if (parent === undefined) continue;
    for (const node of region) (work.children.get(node) as string[]).length = 0;
    for (const node of region) {
      const up = parent.get(node);
      if (up !== undefined) linkChild(work, up, node);
    }
    if (entering) work.entered.add(zone);
    connect(work, top, topDepth);
    return "attached";
  }
  return "failed";
}
