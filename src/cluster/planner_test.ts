/**
 * Tests of the planner's face (planner.ts): what {@linkcode planTree} takes and answers (the tree nodes, errors on
 * bad input, determinism), {@linkcode depthBound} and {@linkcode treeEdgesMoved}. The fresh construction is tested
 * in tree_build_test.ts, repair in tree_repair_test.ts; every plan is checked by `checkPlan` (_planner_testing.ts).
 * @module
 */
import { deepStrictEqual as assertEquals, equal, throws } from "node:assert/strict";
import fc from "fast-check";
import { depthBound, type PlanInput, type PlanMember, planTree, treeEdgesMoved } from "./planner.ts";
import {
  assertValid,
  DEFAULT_FANOUT,
  generator,
  member,
  runs,
  scenario,
  snapshot,
} from "../../tests/support/planner_testing.ts";

Deno.test("planTree() plans a single node: the root alone", () => {
  const input: PlanInput = { root: "a", members: [member("a", "z")], wanting: new Set(["a"]), fanout: 4 };
  const plan = planTree(input);
  assertValid(input, plan);
  equal(plan.root, "a");
  equal(plan.parent.size, 0);
  assertEquals([...plan.children], [["a", []]]);
  equal(plan.depth("a"), 0);
  equal(plan.depth("b"), undefined);
});

Deno.test("planTree() keeps the root alone when nobody else wants the stream", () => {
  const members = ["a", "b", "c"].map((node) => member(node, "z"));
  const input: PlanInput = { root: "b", members, wanting: new Set(["ghost"]), fanout: 2 };
  const plan = planTree(input);
  assertValid(input, plan);
  assertEquals([...plan.children], [["b", []]]);
  equal(plan.depth("a"), undefined);
});

Deno.test("planTree() includes the root once when it also wants the stream, and ignores unknown names", () => {
  const members = [member("r", "z"), member("a", "z")];
  const input: PlanInput = {
    root: "r",
    members,
    wanting: new Set(["r", "a", "nobody"]),
    fanout: DEFAULT_FANOUT,
  };
  const plan = planTree(input);
  assertValid(input, plan);
  assertEquals([...plan.parent], [["a", "r"]]);
});

Deno.test("planTree() rejects a root that is not a member", () => {
  throws(
    () => planTree({ root: "x", members: [member("a", "z")], wanting: new Set(["a"]), fanout: 4 }),
    (error: unknown) => error instanceof Error && /root "x" is not among the members/.test(error.message),
  );
});

Deno.test("planTree() rejects a fan-out that is not an integer >= 1", () => {
  for (const fanout of [0, -1, Number.NaN, 2.5, Number.POSITIVE_INFINITY]) {
    throws(
      () => planTree({ root: "a", members: [member("a", "z")], wanting: new Set(), fanout }),
      RangeError,
      `fanout ${fanout}`,
    );
  }
});

Deno.test("planTree() rejects a member listed in two zones", () => {
  throws(
    () =>
      planTree({ root: "a", members: [member("a", "z"), member("a", "y")], wanting: new Set(), fanout: 2 }),
    /listed in zones "z" and "y"/,
  );
});

Deno.test("depthBound() is ceil(log_k n) + 1, and n - 1 for a chain", () => {
  assertEquals(
    [[1, 4], [2, 4], [4, 4], [5, 4], [16, 4], [17, 4], [1000, 4], [1024, 4], [1025, 4], [8, 2], [9, 2], [
      5,
      1,
    ]]
      .map(([n, k]) => depthBound(n as number, k as number)),
    [1, 2, 2, 3, 3, 4, 6, 6, 7, 4, 5, 4],
  );
});

Deno.test("treeEdgesMoved() counts nodes in both plans whose parent changed", () => {
  const members = ["r", "a", "b", "c"].map((node) => member(node, "z"));
  const before = planTree({ root: "r", members, wanting: new Set(["a", "b", "c"]), fanout: 1 });
  equal(treeEdgesMoved(before, before), 0);
  const after = planTree({ root: "r", members, wanting: new Set(["a", "c"]), fanout: 1, previous: before });
  // r -> a -> b -> c became r -> a -> c: only c moved (b is gone).
  assertEquals([...after.parent].sort(), [["a", "r"], ["c", "a"]]);
  equal(treeEdgesMoved(before, after), 1);
});

Deno.test("planTree() is deterministic: the same input, in any order, gives the same plan", () => {
  fc.assert(
    fc.property(scenario(300, 10, 6), fc.integer(), ({ input }, seed) => {
      const rng = generator(seed);
      const shuffled = [...input.members];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j] as PlanMember, shuffled[i] as PlanMember];
      }
      const again: PlanInput = {
        ...input,
        members: shuffled,
        wanting: new Set([...input.wanting].reverse()),
      };
      const first = planTree(input);
      assertEquals(snapshot(planTree(input)), snapshot(first));
      assertEquals(snapshot(planTree(again)), snapshot(first));
      // With a previous plan too.
      const next: PlanInput = { ...input, wanting: new Set([...input.wanting].slice(1)), previous: first };
      assertEquals(snapshot(planTree(next)), snapshot(planTree({ ...next })));
    }),
    runs(150),
  );
});
