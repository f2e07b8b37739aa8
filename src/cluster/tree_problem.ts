/**
 * The planning problem as the tree planner's construction (tree_build.ts) and repair (tree_repair.ts) see it: the
 * tree nodes grouped by zone, the root's zone first, and the few counting helpers both need.
 *
 * planner.ts validates its `PlanInput` into a {@linkcode Setup}; everything after works on node names and
 * parent maps (`node -> parent`), never on the caller's objects. Everything here is ordered by name in code-unit
 * order ({@linkcode byName}), never by locale or by insertion order of the input, so every relay builds the same
 * problem, hence the same plan, from the same membership.
 *
 * Internal to the planner: callers use planner.ts.
 * @module
 */
/**
 * Code-unit order: the same on every relay whatever its locale.
 * @param a a name
 * @param b another name
 * @returns negative when `a` comes first, positive when `b` does, 0 when equal
 */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Smallest L with k^L >= n (0 for n <= 1).
 * @param k the base, >= 2
 * @param n the count
 * @returns the depth of a full k-ary tree that holds n nodes
 */
export function ceilLog(k: number, n: number): number {
  let level = 0;
  for (let power = 1; power < n; power *= k) level++;
  return level;
}

/** Saturation value for {@linkcode fullTree}: far above any member count. */
const SATURATED = 2 ** 50;

/**
 * Nodes of a full k-ary tree of depth d (0 when d < 0), saturated at 2^50 (far above any member count).
 * @param k fan-out
 * @param depth depth d
 * @returns 1 + k + ... + k^d
 */
export function fullTree(k: number, depth: number): number {
  let sum = 0;
  let power = 1;
  for (let i = 0; i <= depth; i++) {
    sum += power;
    if (sum >= SATURATED) return SATURATED;
    power *= k;
  }
  return sum;
}

/** One zone of the tree nodes. */
export interface ZoneNodes {
  /** The zone's name ("" for unknown). */
  readonly zone: string;
  /** Sorted by name; for the root's zone the root comes first. */
  readonly nodes: readonly string[];
}

/** What the level construction needs: a root, its zone's nodes and the other zones. */
export interface LevelProblem {
  /** Fan-out. */
  readonly k: number;
  /** The node on top. */
  readonly root: string;
  /** Number of nodes, the root included. */
  readonly size: number;
  /** The root's zone, the root first. */
  readonly rootZoneNodes: ZoneNodes;
  /** Zones other than the root's, largest first, then by zone name. */
  readonly otherZones: readonly ZoneNodes[];
}

/** A validated `PlanInput` (planner.ts): the whole tree's problem, and what repair needs besides. */
export interface Setup extends LevelProblem {
  /** Zone of the root. */
  readonly rootZone: string;
  /** Tree nodes, sorted by name. */
  readonly nodes: readonly string[];
  /** Zone of every tree node. */
  readonly zoneOf: ReadonlyMap<string, string>;
  /** The depth bound (planner.ts `depthBound`) for these nodes. */
  readonly bound: number;
}

/**
 * The zones of `nodes` as the level construction takes them, with `root` on top.
 * @param k fan-out
 * @param root the node on top, one of `nodes`
 * @param nodes the nodes, sorted by name
 * @param zoneOf zone of every node
 * @returns the problem: the root's zone first, the other zones largest first
 */
export function levelProblem(
  k: number,
  root: string,
  nodes: readonly string[],
  zoneOf: ReadonlyMap<string, string>,
): LevelProblem {
  const rootZone = zoneOf.get(root) as string;
  const byZone = new Map<string, string[]>();
  for (const node of nodes) {
    if (node === root) continue;
    const zone = zoneOf.get(node) as string;
    let list = byZone.get(zone);
    if (list === undefined) byZone.set(zone, list = []);
    list.push(node);
  }
  const rootZoneNodes: ZoneNodes = { zone: rootZone, nodes: [root, ...(byZone.get(rootZone) ?? [])] };
  byZone.delete(rootZone);
  const otherZones = [...byZone].map(([zone, list]): ZoneNodes => ({ zone, nodes: list }))
    .sort((a, b) => b.nodes.length - a.nodes.length || byName(a.zone, b.zone));
  return { k, root, size: nodes.length, rootZoneNodes, otherZones };
}

/**
 * The children lists of a parent map.
 * @param nodes every node (each gets a list, empty for leaves), in the order children are listed
 * @param parent node -> parent; parents must be among `nodes`
 * @returns node -> its children, in the order of `nodes`
 */
export function childrenOf(
  nodes: readonly string[],
  parent: ReadonlyMap<string, string>,
): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const node of nodes) children.set(node, []);
  for (const node of nodes) {
    const up = parent.get(node);
    if (up !== undefined) (children.get(up) as string[]).push(node);
  }
  return children;
}
