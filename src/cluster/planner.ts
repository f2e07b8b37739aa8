/**
 * Pure, deterministic planner of a stream's distribution tree (sans-I/O: no sockets, no timers, no randomness):
 * which relay feeds which. This file is its face: the types and the entry points the mesh calls.
 *
 * Every relay computes the same plan from the same input (ties are broken by node and zone names in code-unit
 * order), so a relay finds its own parent and children without asking anyone.
 *
 * ## What the plan guarantees
 * Tree nodes are the root plus the wanting members (only relays with readers carry the stream). Let N be their
 * number and k the fan-out.
 * - **Degree**: every node has at most k children, so the root sends k copies at most whatever N.
 * - **Zones**: for every zone Z at most one tree edge goes from a node outside Z to a node in Z, and no edge enters
 *   the root's zone. So each zone's nodes form one connected subtree: one copy enters the zone, then it fans out
 *   inside. The zone `""` (unknown) is one zone like any other.
 * - **No loops**: every tree node reaches the root by following parents; `parent` and `children` agree.
 * - **Depth** (hops from the root): at most {@linkcode depthBound}`(N, k)` = ceil(log_k N) + 1 for k >= 2, and
 *   N - 1 for k = 1 (the tree is then a chain: the root's zone first, then each zone in one piece).
 * - **Stability**: given the previous plan of the same root, edges that are still valid stay; a join moves no edge
 *   when a free slot within the rules exists; a leave moves the leaver's children and rarely more.
 *
 * The first three hold by construction in every case, with or without a previous plan. The depth bound is tested
 * (on millions of inputs), not proven; should an input ever need more, the plan is still valid, one level deeper.
 * The planner never throws on a valid input.
 *
 * ## Where each part lives
 * - tree_problem.ts: the input grouped by zone, as construction and repair see it.
 * - tree_build.ts: the fresh construction, level by level (and the evidence for the depth bound).
 * - tree_repair.ts: repair of a previous plan (which children stay, which move, what it costs);
 *   tree_attach.ts the moves that place a leftover piece; tree_work.ts the tree under repair.
 * - min_heap.ts: the binary heap both use.
 *
 * @example
 * ```ts
 * import { planTree } from "./planner.ts";
 * const plan = planTree({
 *   root: "a",
 *   members: [{ node: "a", zone: "z1" }, { node: "b", zone: "z1" }, { node: "c", zone: "z2" }],
 *   wanting: new Set(["b", "c"]),
 *   fanout: 4,
 * });
 * plan.children.get("a"); // ["b", "c"]
 * plan.depth("c"); // 1
 * ```
 * @module
 */
import { buildFresh } from "./tree_build.ts";
import { byName, ceilLog, childrenOf, levelProblem, type Setup } from "./tree_problem.ts";
import { repairBest } from "./tree_repair.ts";

/** A live, ready relay that may carry a stream. */
export interface PlanMember {
  /** Node name: the relay's identity in the mesh. */
  readonly node: string;
  /** Zone (`topology.kubernetes.io/zone` of its Node); "" when unknown, treated as one zone. */
  readonly zone: string;
}

/** What the planner needs to know about one stream. */
export interface PlanInput {
  /** Node name of the root relay (where the stream enters the mesh); must be among `members`. */
  readonly root: string;
  /** Live, ready relays, the root included. Node names must be unique. */
  readonly members: readonly PlanMember[];
  /** Nodes with readers for this stream; names that are not members are ignored; may include the root. */
  readonly wanting: ReadonlySet<string>;
  /** Fan-out k: the most children a relay feeds (`--fanout`); an integer >= 1. */
  readonly fanout: number;
  /** The last plan for this stream: edges of it that are still valid are kept. */
  readonly previous?: TreePlan;
}

/** A distribution tree for one stream. */
export interface TreePlan {
  /** Node name of the root. */
  readonly root: string;
  /** Every tree node except the root -> its parent. */
  readonly parent: ReadonlyMap<string, string>;
  /** Every tree node -> its children, sorted by name. */
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** Hops from the root, or undefined when `node` is not in the tree. */
  depth(node: string): number | undefined;
}

/**
 * The depth bound the planner keeps: ceil(log_k n) + 1 for k >= 2, n - 1 for k = 1 (a chain).
 * @param nodes number of tree nodes n (the root plus the wanting members), >= 1
 * @param fanout k, >= 1
 * @returns the largest depth (hops from the root) a plan of that size may have
 * @example
 * ```ts
 * depthBound(1000, 4); // 6 (4^5 = 1024 >= 1000, + 1)
 * ```
 */
export function depthBound(nodes: number, fanout: number): number {
  if (fanout === 1) return Math.max(0, nodes - 1);
  return ceilLog(fanout, nodes) + 1;
}

/**
 * Plans the distribution tree of one stream: root plus the wanting members, fan-out at most k, at most one copy
 * entering each zone, depth within {@linkcode depthBound}; with `previous`, as few edges moved as possible.
 * @param input root, members with zones, wanting nodes, fan-out and optionally the previous plan
 * @returns the plan (fresh objects; the input is not modified)
 * @throws {RangeError} when the fan-out is not an integer >= 1
 * @throws {Error} when the root is not a member, or a node is listed twice with different zones
 * @example
 * ```ts
 * const members = [{ node: "a", zone: "z1" }, { node: "b", zone: "z1" }, { node: "c", zone: "z2" }];
 * const plan = planTree({ root: "a", members, wanting: new Set(["b"]), fanout: 4 });
 * const next = planTree({ root: "a", members, wanting: new Set(["b", "c"]), fanout: 4, previous: plan });
 * treeEdgesMoved(plan, next); // 0: "c" joined at a free slot
 * ```
 */
export function planTree(input: PlanInput): TreePlan {
  const setup = prepare(input);
  const parent = (input.previous && repairBest(setup, input.previous)) ?? buildFresh(setup);
  return makePlan(setup.root, setup.nodes, parent);
}

/**
 * Counts the nodes present in both plans whose parent differs (the root counts as having no parent).
 * @param before the earlier plan
 * @param after the later plan
 * @returns number of moved edges
 * @example
 * ```ts
 * const members = [{ node: "a", zone: "z" }, { node: "b", zone: "z" }, { node: "c", zone: "z" }];
 * const chain = planTree({ root: "a", members, wanting: new Set(["b", "c"]), fanout: 1 }); // a -> b -> c
 * const after = planTree({ root: "a", members, wanting: new Set(["c"]), fanout: 1, previous: chain });
 * treeEdgesMoved(chain, after); // 1: c now hangs under a
 * ```
 */
export function treeEdgesMoved(before: TreePlan, after: TreePlan): number {
  let moved = 0;
  for (const node of planNodes(before)) {
    if (!inPlan(after, node)) continue;
    if (before.parent.get(node) !== after.parent.get(node)) moved++;
  }
  return moved;
}

// ---------------------------------------------------------------------------------------------------------------
// Input

/** Validates the input: fan-out, members' zones, the root among them; keeps the wanting members. */
function prepare(input: PlanInput): Setup {
  const k = input.fanout;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`Cannot plan tree: fan-out must be an integer >= 1, got ${String(k)}`);
  }
  const memberZone = new Map<string, string>();
  for (const member of input.members) {
    const known = memberZone.get(member.node);
    if (known !== undefined && known !== member.zone) {
      throw new Error(
        `Cannot plan tree: member "${member.node}" is listed in zones "${known}" and "${member.zone}"`,
      );
    }
    memberZone.set(member.node, member.zone);
  }
  const root = input.root;
  const rootZone = memberZone.get(root);
  if (rootZone === undefined) throw new Error(`Cannot plan tree: root "${root}" is not among the members`);

  const zoneOf = new Map<string, string>([[root, rootZone]]);
  for (const node of input.wanting) {
    const zone = memberZone.get(node);
    if (zone !== undefined) zoneOf.set(node, zone);
  }
  const nodes = [...zoneOf.keys()].sort(byName);
  return {
    ...levelProblem(k, root, nodes, zoneOf),
    rootZone,
    nodes,
    zoneOf,
    bound: depthBound(nodes.length, k),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Output

/** The plan as callers see it: parents of the tree nodes, children sorted by name, depths. */
function makePlan(root: string, nodes: readonly string[], parentOf: ReadonlyMap<string, string>): TreePlan {
  const parent = new Map<string, string>();
  for (const node of nodes) {
    const up = parentOf.get(node);
    if (up !== undefined) parent.set(node, up);
  }
  const children = childrenOf(nodes, parent);
  for (const list of children.values()) list.sort(byName);
  const depths = new Map<string, number>([[root, 0]]);
  let level: readonly string[] = [root];
  for (let d = 1; level.length > 0; d++) {
    level = level.flatMap((node) => children.get(node) as string[]);
    for (const node of level) depths.set(node, d);
  }
  const frozen = new Map<string, readonly string[]>(children);
  return {
    root,
    parent,
    children: frozen,
    depth: (node: string) => depths.get(node),
  };
}

function planNodes(plan: TreePlan): string[] {
  return [plan.root, ...[...plan.parent.keys()].filter((node) => node !== plan.root)];
}

function inPlan(plan: TreePlan, node: string): boolean {
  return node === plan.root || plan.parent.has(node);
}
