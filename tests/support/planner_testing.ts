/**
 * Test support for the tree planner's tests (planner_test.ts, tree_build_test.ts, tree_repair_test.ts); the relay
 * never imports it.
 *
 * - {@linkcode checkPlan}: every rule a plan must keep, checked from the input alone (it does not trust the
 *   planner's own helpers: the depth bound is computed apart, loops are walked).
 * - {@linkcode scenario}: random memberships for fast-check (1..N members in skewed zones, zone "" among them, a
 *   random root, wanting set and fan-out), and {@linkcode runs}: `PLANNER_RUNS=N` multiplies the number of runs of
 *   every property (default 1: each file runs in a few seconds, with a fixed fast-check seed so every default run
 *   is the same; with PLANNER_RUNS the seeds are random and a failure prints the seed to replay).
 * - {@linkcode figures}: what the tests measure along the way (worst depth, edges moved), printed by each test
 *   file's last test (each test file runs in its own isolate: each prints its own).
 * @module
 */
import fc from "fast-check";
import type { PlanInput, PlanMember, TreePlan } from "../../src/cluster/planner.ts";
import { configDefaults } from "../../src/config/schema.ts";
import { seededRandom } from "./seeded_random.ts";

/** The fan-out a relay has unless told otherwise (`--fanout`'s default). */
export const DEFAULT_FANOUT = configDefaults().fanout;

// ---------------------------------------------------------------------------------------------------------------
// Invariant checker

/** ceil(log_k n) + 1 for k >= 2, n - 1 for k = 1: computed here apart from the planner. */
export function expectedBound(n: number, k: number): number {
  if (k === 1) return n - 1;
  let level = 0;
  for (let power = 1; power < n; power *= k) level++;
  return level + 1;
}

/**
 * Every rule a plan must keep, checked from the input alone.
 * @returns the violations found, empty when the plan is valid
 */
export function checkPlan(input: PlanInput, plan: TreePlan): string[] {
  const problems: string[] = [];
  const k = input.fanout;
  const zoneOf = new Map(input.members.map((m) => [m.node, m.zone]));
  const expected = new Set([input.root, ...[...input.wanting].filter((node) => zoneOf.has(node))]);
  const n = expected.size;
  if (plan.root !== input.root) problems.push(`root is "${plan.root}", expected "${input.root}"`);
  if (plan.parent.has(plan.root)) problems.push("root has a parent");

  // Exactly the root and the wanting members.
  const inTree = new Set([plan.root, ...plan.parent.keys()]);
  for (const node of expected) if (!inTree.has(node)) problems.push(`"${node}" missing from the tree`);
  for (const node of inTree) if (!expected.has(node)) problems.push(`"${node}" in the tree but not wanted`);
  const listed = new Set(plan.children.keys());
  for (const node of expected) if (!listed.has(node)) problems.push(`"${node}" has no children entry`);
  for (const node of listed) if (!expected.has(node)) problems.push(`children entry for stranger "${node}"`);
  for (const m of input.members) {
    if (!expected.has(m.node) && plan.depth(m.node) !== undefined) {
      problems.push(`depth of "${m.node}" defined`);
    }
  }

  // Parent and children agree; children sorted; degree.
  for (const [node, list] of plan.children) {
    if (list.length > k) problems.push(`"${node}" has ${list.length} children > k = ${k}`);
    for (let i = 1; i < list.length; i++) {
      if (!((list[i - 1] as string) < (list[i] as string))) problems.push(`children of "${node}" not sorted`);
    }
    for (const child of list) {
      if (plan.parent.get(child) !== node) {
        problems.push(`"${child}" listed under "${node}" but parent differs`);
      }
    }
  }
  for (const [node, up] of plan.parent) {
    if (!(plan.children.get(up) ?? []).includes(node)) {
      problems.push(`"${node}" missing from children of "${up}"`);
    }
  }

  // No loops: every node reaches the root within n hops; depth() agrees.
  const bound = expectedBound(n, k);
  for (const node of expected) {
    let hops = 0;
    let at: string | undefined = node;
    while (at !== undefined && at !== plan.root && hops <= n) {
      at = plan.parent.get(at);
      hops++;
    }
    if (at !== plan.root) {
      problems.push(`"${node}" does not reach the root`);
      continue;
    }
    if (plan.depth(node) !== hops) problems.push(`depth("${node}") = ${plan.depth(node)}, walked ${hops}`);
    if (hops > bound) problems.push(`"${node}" at depth ${hops} > bound ${bound} (n = ${n}, k = ${k})`);
  }

  // Zones: at most one edge enters each zone, none enters the root's zone.
  const rootZone = zoneOf.get(input.root);
  const entering = new Map<string, number>();
  for (const [node, up] of plan.parent) {
    const zone = zoneOf.get(node) as string;
    if (zone !== zoneOf.get(up)) entering.set(zone, (entering.get(zone) ?? 0) + 1);
  }
  for (const [zone, count] of entering) {
    if (zone === rootZone) problems.push(`${count} edge(s) enter the root's zone "${zone}"`);
    else if (count > 1) problems.push(`${count} edges enter zone "${zone}"`);
  }
  return problems;
}

/** Throws with the first violations when the plan breaks a rule ({@linkcode checkPlan}). */
export function assertValid(input: PlanInput, plan: TreePlan): void {
  const problems = checkPlan(input, plan);
  if (problems.length > 0) throw new Error(`Invalid plan:\n  ${problems.slice(0, 10).join("\n  ")}`);
}

/** Depth of the deepest node. */
export function maxDepth(plan: TreePlan): number {
  let deepest = 0;
  for (const node of plan.parent.keys()) deepest = Math.max(deepest, plan.depth(node) as number);
  return deepest;
}

/** A plan as plain sorted data, to compare plans. */
export function snapshot(plan: TreePlan): unknown {
  return {
    root: plan.root,
    parent: [...plan.parent].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    children: [...plan.children].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
  };
}

/** A member of a zone. */
export const member = (node: string, zone: string): PlanMember => ({ node, zone });

/** Figures measured along the way, printed by the last test of each file. */
export const figures = {
  plans: 0,
  /** Worst depth - ceil(log_k N) seen (k >= 2), for fresh plans and for plans repaired from a previous one. */
  worst: {
    fresh: { over: Number.NEGATIVE_INFINITY, n: 0, text: "" },
    repaired: { over: Number.NEGATIVE_INFINITY, n: 0, text: "" },
  },
  /** Single join from a fresh plan: edges moved when a free slot within the bound existed / did not. */
  joinsWithSlot: new Map<number, number>(),
  joinsWithoutSlot: new Map<number, number>(),
  /** Single leave from a fresh plan: edges moved beyond the leaver's children. */
  leaveExtra: new Map<number, number>(),
  /** Sequences: edges moved beyond the minimum per step (0 for a join, the children for a leave). */
  sequenceExtra: new Map<number, number>(),
};

/** Adds one to `key`'s count. */
export function count<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Histogram as "value: count" pairs, values in order, the tail above `top` lumped together. */
export function histogram(map: Map<number, number>, top = 4): string {
  const rows = new Map<string, number>();
  for (const [value, times] of [...map].sort((a, b) => a[0] - b[0])) {
    const key = value > top ? `>${top}` : String(value);
    rows.set(key, (rows.get(key) ?? 0) + times);
  }
  return [...rows].map(([key, times]) => `${key}: ${times}`).join(", ") || "none";
}

/** Records the plan's depth beyond ceil(log_k N) in {@linkcode figures} (the worst seen, fresh or repaired). */
export function noteDepth(input: PlanInput, plan: TreePlan): void {
  figures.plans++;
  const n = plan.parent.size + 1;
  if (input.fanout === 1) return;
  const over = maxDepth(plan) - (expectedBound(n, input.fanout) - 1);
  const worst = input.previous === undefined ? figures.worst.fresh : figures.worst.repaired;
  if (over < worst.over || (over === worst.over && n <= worst.n)) return;
  const zoneOf = new Map(input.members.map((m) => [m.node, m.zone]));
  const zones = new Map<string, number>();
  for (const node of [plan.root, ...plan.parent.keys()]) count(zones, zoneOf.get(node) as string);
  const sizes = [...zones.values()].sort((a, b) => b - a);
  worst.over = over;
  worst.n = n;
  worst.text = `N = ${n}, k = ${input.fanout}, depth ${maxDepth(plan)}, root's zone ${
    zones.get(zoneOf.get(plan.root) as string)
  } nodes, ${sizes.length} zones of ${JSON.stringify(sizes.slice(0, 10))}${sizes.length > 10 ? "..." : ""}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Properties

/** PLANNER_RUNS, when granted and a positive number; else 1. */
const RUNS_FACTOR = (() => {
  const granted = Deno.permissions.querySync({ name: "env", variable: "PLANNER_RUNS" }).state === "granted";
  const factor = granted ? Number(Deno.env.get("PLANNER_RUNS") ?? "1") : 1;
  return Number.isFinite(factor) && factor > 0 ? factor : 1;
})();

/**
 * fast-check parameters: `base` runs times PLANNER_RUNS. Without PLANNER_RUNS the seed is fixed, so the default run
 * is the same every time; with it, seeds are random (a failure prints the seed to replay).
 */
export function runs(base: number): fc.Parameters<unknown> {
  const numRuns = Math.max(1, Math.round(base * RUNS_FACTOR));
  return RUNS_FACTOR === 1 ? { numRuns, seed: 20240611 } : { numRuns };
}

/** Small deterministic generator for the bulk of a membership (fast-check picks its seed and shape). */
export function generator(seed: number): { int(n: number): number; chance(p: number): boolean } {
  const next = seededRandom(seed);
  return { int: (n) => Math.floor(next() * n), chance: (p) => next() < p };
}

export interface Scenario {
  readonly input: PlanInput;
  /** Number of zones the members were drawn from (joiners may bring one more). */
  readonly zones: number;
}

export type Rng = ReturnType<typeof generator>;

/** Members 1..maxNodes in 1..maxZones zones of skewed sizes (zone "" among them), a random root and wanting set. */
export const scenario = (maxNodes: number, maxZones: number, maxK: number) =>
  fc.record({
    nodes: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: maxNodes })),
    zones: fc.integer({ min: 1, max: maxZones }),
    skew: fc.integer({ min: 0, max: 3 }),
    density: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
    k: fc.oneof(fc.constant(DEFAULT_FANOUT), fc.integer({ min: 1, max: maxK })),
    seed: fc.integer(),
  }).map(({ nodes, zones, skew, density, k, seed }): Scenario => {
    const rng = generator(seed);
    const zoneName = (i: number) => (i === 0 ? "" : `zone-${i}`);
    const pickZone = () => {
      let x = rng.int(zones);
      for (let s = 0; s < skew; s++) x = Math.min(x, rng.int(zones));
      return zoneName(x);
    };
    const members = Array.from({ length: nodes }, (_, i) => member(`node-${i}`, pickZone()));
    const root = `node-${rng.int(nodes)}`;
    const wanting = new Set(members.filter(() => rng.chance(density)).map((m) => m.node));
    if (rng.chance(0.2)) wanting.add("not-a-member");
    // k = 1 makes chains: keep them short.
    const fanout = k === 1 && nodes > 60 ? 2 : k;
    return { input: { root, members, wanting, fanout }, zones };
  });
