/**
 * Two parents per relay for dual-path protection (`--protection dual`, issue 17): for every tree node but the
 * root, two parents whose paths from the root share no relay but the root (and the node itself), so that the
 * death of any one relay other than the root leaves every other relay fed. Pure and deterministic, like
 * {@linkcode planTree}, which it builds on.
 *
 * Construction ("red and blue"): the wanting members are split in two colours, by zone where the cluster has
 * several (whole zones to a colour, the colours' sizes as even as the zones allow) and alternately within one
 * zone otherwise. The red tree is {@linkcode planTree} over the root and the red members, the blue tree over the
 * root and the blue ones; then every blue member hangs as a leaf under a red tree node with a free slot, and
 * every red one under a blue tree node. A member's two paths are its own colour's tree (its first parent: its
 * children hang off it there) and its leaf place in the other colour's tree (its second parent). The first path
 * holds only relays of its colour, the second only relays of the other colour but the member itself: no relay in
 * common but the root. A relay has children in one tree only, so it sends at most k copies; the root feeds both
 * trees (at most k in each). With zones split by colour a member's two parents are in different zones whenever
 * the cluster has two zones or more. A member whose both parents would be the root gets the root once.
 *
 * With a standby root (a second relay that pulls the camera itself and aligns its numbering with the root's, see
 * numbering_match.ts), the tree of the standby's colour starts at the standby instead of the root, and the standby
 * hangs as a leaf in the other tree (it learns the root's numbering there). Every member then has one path from
 * the root and one from the standby that share no relay: the death of any single relay, the root included, leaves
 * every other relay fed.
 * Sans-I/O.
 * @module
 */
import { type PlanInput, planTree, type TreePlan } from "./planner.ts";
import { byName } from "./tree_problem.ts";
import { fnv1a } from "./root_locator.ts";

/** Two spanning trees of the same nodes and each node's parents in them. */
export interface DualPlan {
  readonly root: string;
  /** The standby root, top of its colour's tree (it has one parent), or null. */
  readonly standby: string | null;
  /** Every tree node but the root -> its parents: its own colour's first, then the other's (once when equal). */
  readonly parents: ReadonlyMap<string, readonly string[]>;
  /** The red tree with the blue members as its leaves (every node's first or second path). */
  readonly red: TreePlan;
  /** The blue tree with the red members as its leaves. */
  readonly blue: TreePlan;
  /** Each member's colour. */
  readonly colour: ReadonlyMap<string, "red" | "blue">;
  /** The red members' own tree, without the leaves (the next plan's `previous`, for stability). */
  readonly redBase: TreePlan;
  /** The blue members' own tree, without the leaves. */
  readonly blueBase: TreePlan;
}

/**
 * Plans two disjoint paths to every wanting member of one stream.
 * @param input as {@linkcode planTree}'s (its `previous` is not used)
 * @param previous the last dual plan of the stream: each colour's tree keeps its edges where it can
 * @param standby the standby root of the stream, when it is a wanting member: its colour's tree starts there
 * @returns the two trees and every member's parents
 * @throws {RangeError} when the fan-out is below 2 (a chain has no second path); else as {@linkcode planTree}
 */
export function planDual(input: PlanInput, previous?: DualPlan, standby?: string | null): DualPlan {
  if (!Number.isInteger(input.fanout) || input.fanout < 2) {
    throw new RangeError(
      `Cannot plan two paths: fan-out must be an integer >= 2, got ${String(input.fanout)}`,
    );
  }
  const zoneOf = new Map(input.members.map((m) => [m.node, m.zone]));
  const wanting = [...input.wanting].filter((n) => n !== input.root && zoneOf.has(n)).sort(byName);
  const top = standby && wanting.includes(standby) ? standby : null;
  const colour = splitColours(wanting, zoneOf, input.fanout, top);
  const red = wanting.filter((n) => colour.get(n) === "red");
  const blue = wanting.filter((n) => colour.get(n) === "blue");
  const base = { members: input.members, fanout: input.fanout };
  const rootOf = (c: "red" | "blue") => (top !== null && colour.get(top) === c ? top : input.root);
  const colourTree = (c: "red" | "blue", members: string[], before: TreePlan | undefined) => {
    const root = rootOf(c);
    return planTree({
      ...base,
      root,
      wanting: new Set(members.filter((n) => n !== root)),
      // A tree whose top changed (the standby came or went) starts afresh.
      ...(before && before.root === root ? { previous: before } : {}),
    });
  };
  const redTree = colourTree("red", red, previous?.redBase);
  const blueTree = colourTree("blue", blue, previous?.blueBase);
  const redFull = withLeaves(redTree, blue, zoneOf, input.fanout);
  const blueFull = withLeaves(blueTree, red, zoneOf, input.fanout);
  const parents = new Map<string, readonly string[]>();
  for (const node of wanting) {
    const [own, other] = colour.get(node) === "red" ? [redFull, blueFull] : [blueFull, redFull];
    const second = other.parent.get(node)!;
    // The standby tops its own tree: its one parent is its place in the other.
    const first = own.parent.get(node) ?? second;
    parents.set(node, first === second ? [first] : [first, second]);
  }
  return {
    root: input.root,
    standby: top,
    parents,
    red: redFull,
    blue: blueFull,
    colour,
    redBase: redTree,
    blueBase: blueTree,
  };
}

/**
 * Colours: whole zones to each colour when there are two zones or more (largest zone first to the smaller
 * colour), else by a hash of the name; then, while one colour's tree has too few free slots for the other colour's
 * leaves (n nodes of fan-out k have n(k - 1) + 1), members move from the larger colour, last by name first.
 */
function splitColours(
  nodes: readonly string[],
  zoneOf: ReadonlyMap<string, string>,
  k: number,
  standby: string | null,
): Map<string, "red" | "blue"> {
  const colour = zoneColours(nodes, zoneOf);
  const count = (c: "red" | "blue") => nodes.filter((n) => colour.get(n) === c).length;
  // A tree of n nodes has n(k - 1) + 1 free slots; the root is a node of both trees unless the standby tops one.
  const slots = (c: "red" | "blue") =>
    (count(c) + (standby !== null && colour.get(standby) === c ? 0 : 1)) * (k - 1) + 1;
  for (;;) {
    const reds = count("red");
    const blues = count("blue");
    const short = slots("red") < blues ? "red" : slots("blue") < reds ? "blue" : null;
    if (short === null) return colour;
    const from = short === "red" ? "blue" : "red";
    const moved = nodes.filter((n) => colour.get(n) === from).at(-1)!;
    colour.set(moved, short);
  }
}

function zoneColours(
  nodes: readonly string[],
  zoneOf: ReadonlyMap<string, string>,
): Map<string, "red" | "blue"> {
  const byZone = new Map<string, string[]>();
  for (const node of nodes) {
    const zone = zoneOf.get(node)!;
    const list = byZone.get(zone);
    if (list) list.push(node);
    else byZone.set(zone, [node]);
  }
  const colour = new Map<string, "red" | "blue">();
  if (byZone.size < 2) {
    // By a hash of the name, not by rank: a relay that joins does not recolour the others (and move their parents).
    for (const node of nodes) colour.set(node, (fnv1a(node) & 1) === 0 ? "red" : "blue");
    return colour;
  }
  const zones = [...byZone].sort((a, b) => b[1].length - a[1].length || byName(a[0], b[0]));
  let reds = 0;
  let blues = 0;
  for (const [, members] of zones) {
    const c = reds <= blues ? "red" : "blue";
    for (const node of members) colour.set(node, c);
    if (c === "red") reds += members.length;
    else blues += members.length;
  }
  return colour;
}

/**
 * `tree` with `leaves` hung under its nodes with a free slot (fewer than k children): a node of the leaf's zone
 * first, then the shallowest, then by name; the root last (its copies are the scarcest).
 */
function withLeaves(
  tree: TreePlan,
  leaves: readonly string[],
  zoneOf: ReadonlyMap<string, string>,
  k: number,
): TreePlan {
  const parent = new Map(tree.parent);
  const children = new Map<string, string[]>();
  const depth = new Map<string, number>();
  const nodes = [tree.root, ...tree.parent.keys()];
  for (const node of nodes) {
    children.set(node, [...(tree.children.get(node) ?? [])]);
    depth.set(node, tree.depth(node)!);
  }
  for (const leaf of leaves) {
    const zone = zoneOf.get(leaf);
    let best: string | null = null;
    let bestKey: [number, number, number] | null = null;
    for (const node of nodes) {
      if (children.get(node)!.length >= k) continue;
      const key: [number, number, number] = [
        zoneOf.get(node) === zone ? 0 : 1,
        node === tree.root ? 1 : 0,
        depth.get(node)!,
      ];
      if (bestKey === null || compareKeys(key, bestKey, node, best!) < 0) {
        best = node;
        bestKey = key;
      }
    }
    if (best === null) throw new Error(`no free slot for ${leaf}: the colours were not balanced`);
    parent.set(leaf, best);
    children.get(best)!.push(leaf);
    depth.set(leaf, depth.get(best)! + 1);
  }
  for (const list of children.values()) list.sort(byName);
  for (const leaf of leaves) children.set(leaf, []);
  return {
    root: tree.root,
    parent,
    children,
    depth: (node: string) => depth.get(node),
  };
}

function compareKeys(a: readonly number[], b: readonly number[], nameA: string, nameB: string): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return byName(nameA, nameB);
}

/** A tree of every member's first parent (its own colour's), with its depth there: what `parent` answers. */
export function firstParents(dual: DualPlan): TreePlan {
  const parent = new Map<string, string>();
  const children = new Map<string, string[]>([[dual.root, []]]);
  for (const [node, parents] of dual.parents) {
    parent.set(node, parents[0]!);
    if (!children.has(node)) children.set(node, []);
  }
  for (const [node, up] of parent) {
    const list = children.get(up);
    if (list) list.push(node);
    else children.set(up, [node]);
  }
  for (const list of children.values()) list.sort(byName);
  const own = (node: string) => (dual.colour.get(node) === "blue" ? dual.blue : dual.red);
  const other = (node: string) => (dual.colour.get(node) === "blue" ? dual.red : dual.blue);
  // A tree topped by the standby is as deep as the standby's place in the other tree, and then its own.
  const depthIn = (node: string) => {
    const tree = own(node);
    if (tree.root === dual.root) return tree.depth(node);
    const top = other(tree.root).depth(tree.root);
    const below = tree.depth(node);
    return top === undefined || below === undefined ? undefined : top + below;
  };
  return {
    root: dual.root,
    parent,
    children,
    depth: (node: string) => (node === dual.root ? 0 : parent.has(node) ? depthIn(node) : undefined),
  };
}
