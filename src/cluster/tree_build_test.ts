/**
 * Tests of the fresh construction (tree_build.ts) through {@linkcode planTree} without a previous plan: examples of
 * zones and chains, every zone-size split of up to 18 nodes, random memberships; each plan checked by `checkPlan`
 * (_planner_testing.ts). The worst depth seen is printed at the end. `PLANNER_RUNS=N` runs the properties N times
 * as often, with random seeds.
 * @module
 */
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { depthBound, type PlanInput, type PlanMember, planTree } from "./planner.ts";
import { buildShallowest } from "./tree_build.ts";
import { levelProblem } from "./tree_problem.ts";
import {
  assertValid,
  figures,
  maxDepth,
  member,
  noteDepth,
  runs,
  scenario,
} from "../../tests/support/planner_testing.ts";

Deno.test("planTree() with k = 1 builds a chain: the root's zone first, then each zone in one piece", () => {
  const members = [member("r", "x"), member("a", "y"), member("b", "x"), member("c", "y"), member("d", "w")];
  const input: PlanInput = { root: "r", members, wanting: new Set(["a", "b", "c", "d"]), fanout: 1 };
  const plan = planTree(input);
  assertValid(input, plan);
  // r -> b (zone x), then zone y (2 nodes, largest first) a -> c, then zone w: d.
  assertEquals([...plan.parent].sort(), [["a", "b"], ["b", "r"], ["c", "a"], ["d", "c"]]);
  equal(plan.depth("d"), 4);
  equal(depthBound(5, 1), 4);
});

Deno.test("planTree() sends one copy into each of two zones", () => {
  const members = [
    ...["a0", "a1", "a2", "a3", "a4", "a5"].map((node) => member(node, "zone-a")),
    ...["b0", "b1", "b2", "b3", "b4", "b5"].map((node) => member(node, "zone-b")),
  ];
  const input: PlanInput = {
    root: "a0",
    members,
    wanting: new Set(members.map((m) => m.node)),
    fanout: 2,
  };
  const plan = planTree(input);
  assertValid(input, plan);
  const crossings = [...plan.parent].filter(([node, up]) => node[0] !== up[0]);
  assertEquals(crossings, [["b0", "a0"]]); // zone-b's entry is its first node by name, under the root
  ok(maxDepth(plan) <= depthBound(12, 2));
});

Deno.test("planTree() handles a root alone in its zone", () => {
  const members = [member("root", "r"), ...Array.from({ length: 20 }, (_, i) => member(`n${i}`, "other"))];
  const input: PlanInput = { root: "root", members, wanting: new Set(members.map((m) => m.node)), fanout: 4 };
  const plan = planTree(input);
  assertValid(input, plan);
  // One copy enters "other": the root has a single child, the zone fans out below it.
  equal(plan.children.get("root")?.length, 1);
  ok(maxDepth(plan) <= depthBound(21, 4));
});

Deno.test("planTree() with more zones than k feeds zones from other zones' relays", () => {
  const members: PlanMember[] = [member("r", "z0")];
  for (let zone = 1; zone <= 9; zone++) {
    for (let i = 0; i < 5; i++) members.push(member(`z${zone}-${i}`, `z${zone}`));
  }
  const input: PlanInput = { root: "r", members, wanting: new Set(members.map((m) => m.node)), fanout: 3 };
  const plan = planTree(input);
  assertValid(input, plan);
  equal(plan.children.get("r")?.length, 3);
  const entries = [...plan.parent].filter(([node, up]) => node.split("-")[0] !== up.split("-")[0]);
  equal(entries.length, 9); // exactly one copy into each of the 9 zones
  ok(maxDepth(plan) <= depthBound(46, 3));
});

Deno.test('planTree() treats the unknown zone "" as one zone', () => {
  const members = [member("r", "z"), member("a", ""), member("b", ""), member("c", ""), member("d", "z")];
  const input: PlanInput = { root: "r", members, wanting: new Set(["a", "b", "c", "d"]), fanout: 4 };
  const plan = planTree(input);
  assertValid(input, plan);
  const intoUnknown = [...plan.parent].filter(([node, up]) =>
    node !== "d" && up !== "a" && up !== "b" && up !== "c"
  );
  equal(intoUnknown.length, 1);
});

// ---------------------------------------------------------------------------------------------------------------
// Exhaustive: every split of N nodes into zone sizes, every choice of the root's zone

/** Partitions of n into parts of at most `max`, largest first. */
function* partitions(n: number, max: number): Generator<number[]> {
  if (n === 0) {
    yield [];
    return;
  }
  for (let part = Math.min(n, max); part >= 1; part--) {
    for (const rest of partitions(n - part, part)) yield [part, ...rest];
  }
}

/** Members for zones of the given sizes; the root is the first node of zone 0. */
function zonesOfSizes(sizes: readonly number[]): PlanInput["members"] {
  return sizes.flatMap((size, zone) =>
    Array.from({ length: size }, (_, i) => member(`z${zone}n${String(i).padStart(3, "0")}`, `z${zone}`))
  );
}

Deno.test("planTree() keeps every bound for every zone-size split of up to 18 nodes, k = 2..5", () => {
  for (let n = 1; n <= 18; n++) {
    for (const sizes of partitions(n, n)) {
      for (const rootZone of new Set(sizes)) {
        const ordered = [rootZone, ...sizes.filter((_, i) => i !== sizes.indexOf(rootZone))];
        const members = zonesOfSizes(ordered);
        for (let k = 2; k <= 5; k++) {
          const input: PlanInput = {
            root: "z0n000",
            members,
            wanting: new Set(members.map((m) => m.node)),
            fanout: k,
          };
          const plan = planTree(input);
          assertValid(input, plan);
          noteDepth(input, plan);
        }
      }
    }
  }
});

Deno.test("planTree() keeps degree, depth and zone bounds, with no loops, over random memberships", () => {
  fc.assert(
    fc.property(scenario(1000, 12, 8), ({ input }) => {
      const plan = planTree(input);
      assertValid(input, plan);
      noteDepth(input, plan);
    }),
    runs(400),
  );
});

Deno.test("buildShallowest() answers undefined below the least depth it reaches, a plan at that depth", () => {
  // 1000 nodes in two zones of 489 (the root's) and 511, k = 4: ceil(log_4 1000) = 5 is not enough (the + 1 of
  // the depth bound is needed, see tree_build.ts).
  const zoneOf = new Map<string, string>();
  for (let i = 0; i < 1000; i++) zoneOf.set(`n${String(i).padStart(4, "0")}`, i < 489 ? "a" : "b");
  const nodes = [...zoneOf.keys()];
  const problem = levelProblem(4, "n0000", nodes, zoneOf);
  equal(buildShallowest(problem, 5), undefined);
  const parent = buildShallowest(problem, 6);
  ok(parent !== undefined);
  equal(parent.size, 999);
  const input: PlanInput = {
    root: "n0000",
    members: nodes.map((node) => member(node, zoneOf.get(node) as string)),
    wanting: new Set(nodes),
    fanout: 4,
  };
  const plan = planTree(input);
  assertValid(input, plan);
  equal(maxDepth(plan), 6);
  assertEquals([...plan.parent].sort(), [...parent].sort()); // planTree builds the same tree
});

Deno.test("fresh construction figures (printed, not asserted)", () => {
  const { fresh } = figures.worst;
  console.log([
    `planner fresh construction: ${figures.plans} plans checked`,
    `  worst depth - ceil(log_k N), fresh plans: ${fresh.over} (${fresh.text})`,
  ].join("\n"));
});
