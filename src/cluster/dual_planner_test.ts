/**
 * Tests of {@linkcode planDual}: on random clusters (zones, wanting members, fan-out), every member's two paths
 * from the root share no relay but the root, both trees are valid and keep the degree bound, a relay has children
 * in one tree only, depths stay within one level of the planner's bound, and with two zones or more the two
 * parents are in different zones.
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { firstParents, planDual } from "./dual_planner.ts";
import { depthBound, type PlanMember, type TreePlan } from "./planner.ts";

function pathOf(tree: TreePlan, node: string): string[] {
  const path: string[] = [];
  for (let at: string | undefined = node; at !== undefined; at = tree.parent.get(at)) {
    path.push(at);
    assert.ok(path.length <= 10_000, `a loop above ${node}`);
  }
  assert.equal(path.at(-1), tree.root, `${node} does not reach the root`);
  return path;
}

const clusters = fc.record({
  size: fc.integer({ min: 1, max: 60 }),
  zones: fc.integer({ min: 1, max: 4 }),
  fanout: fc.integer({ min: 2, max: 6 }),
  seed: fc.integer(),
  wantShare: fc.double({ min: 0, max: 1, noNaN: true }),
});

Deno.test("planDual: every member's two paths share no relay but the root; both trees valid and bounded", () => {
  fc.assert(
    fc.property(clusters, ({ size, zones, fanout, seed, wantShare }) => {
      let r = seed >>> 0;
      const rand = () => ((r = (Math.imul(r, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      const members: PlanMember[] = Array.from({ length: size }, (_, i) => ({
        node: `n${String(i).padStart(3, "0")}`,
        zone: `z${Math.floor(rand() * zones)}`,
      }));
      const root = members[Math.floor(rand() * size)]!.node;
      const wanting = new Set(members.filter(() => rand() < wantShare).map((m) => m.node));
      const plan = planDual({ root, members, wanting, fanout });
      const want = [...wanting].filter((n) => n !== root);
      assert.deepEqual([...plan.parents.keys()].sort(), want.sort());
      const zoneOf = new Map(members.map((m) => [m.node, m.zone]));
      const reds = want.filter((n) => plan.colour.get(n) === "red").length;
      for (const node of want) {
        const red = pathOf(plan.red, node);
        const blue = pathOf(plan.blue, node);
        const shared = red.filter((n) => n !== root && n !== node && blue.includes(n));
        assert.deepEqual(shared, [], `${node}: paths ${red} and ${blue} share ${shared}`);
        const parents = plan.parents.get(node)!;
        assert.equal(new Set(parents).size, parents.length);
        if (parents.length === 1) assert.equal(parents[0], root, "one parent only when both are the root");
        assert.equal(parents[0], plan.colour.get(node) === "red" ? red[1] : blue[1]);
      }
      for (const tree of [plan.red, plan.blue]) {
        for (const [node, kids] of tree.children) {
          assert.ok(kids.length <= fanout, `${node} has ${kids.length} children`);
          for (const kid of kids) assert.equal(tree.parent.get(kid), node);
        }
        const n = (tree === plan.red ? reds : want.length - reds) + 1;
        for (const node of want) {
          assert.ok(tree.depth(node)! <= depthBound(n, fanout) + 1, `${node} at depth ${tree.depth(node)}`);
        }
      }
      for (const node of want) {
        const inRed = (plan.red.children.get(node) ?? []).length > 0;
        const inBlue = (plan.blue.children.get(node) ?? []).length > 0;
        assert.ok(!(inRed && inBlue), `${node} has children in both trees`);
      }
      // Zones split by colour: with two zones or more, a member's two parents (both not the root) differ in zone
      // unless the colours had to be rebalanced.
      const zonesWanting = new Set(want.map((n) => zoneOf.get(n)));
      const pure = [...zonesWanting].every((z) =>
        new Set(want.filter((n) => zoneOf.get(n) === z).map((n) => plan.colour.get(n))).size === 1
      );
      if (zonesWanting.size >= 2 && pure) {
        for (const node of want) {
          const [a, b] = plan.parents.get(node)!;
          if (a === undefined || b === undefined || a === root || b === root) continue;
          assert.notEqual(zoneOf.get(a), zoneOf.get(b), `${node}: parents ${a} and ${b} in one zone`);
        }
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("planDual: six relays in two zones; a relay's death leaves every other with a parent path", () => {
  const members = ["a", "b", "c", "d", "e", "f"].map((node, i) => ({ node, zone: i < 3 ? "z1" : "z2" }));
  const plan = planDual({ root: "a", members, wanting: new Set(["b", "c", "d", "e", "f"]), fanout: 2 });
  for (const dead of ["b", "c", "d", "e", "f"]) {
    for (const node of plan.parents.keys()) {
      if (node === dead) continue;
      const alive = [plan.red, plan.blue].some((t) => !pathOf(t, node).slice(1).includes(dead));
      assert.ok(alive, `${node} loses both paths when ${dead} dies`);
    }
  }
  assert.deepEqual(
    [...plan.colour].sort(),
    [["b", "blue"], ["c", "blue"], ["d", "red"], ["e", "red"], ["f", "red"]],
  );
});

Deno.test("planDual refuses a fan-out below 2 (a chain has no second path)", () => {
  assert.throws(
    () => planDual({ root: "a", members: [{ node: "a", zone: "" }], wanting: new Set(), fanout: 1 }),
    RangeError,
  );
});

Deno.test("planDual: in one zone a relay that joins recolours no other; firstParents() answers each first parent", () => {
  const members = Array.from({ length: 20 }, (_, i) => ({ node: `r${i}`, zone: "z" }));
  const some = new Set(members.slice(1, 12).map((m) => m.node));
  const before = planDual({ root: "r0", members, wanting: some, fanout: 3 });
  const after = planDual({ root: "r0", members, wanting: new Set([...some, "r15"]), fanout: 3 }, before);
  for (const node of some) assert.equal(after.colour.get(node), before.colour.get(node), node);
  const firsts = firstParents(after);
  for (const [node, parents] of after.parents) {
    assert.equal(firsts.parent.get(node), parents[0]);
    assert.ok(firsts.children.get(parents[0]!)!.includes(node));
    assert.ok(firsts.depth(node)! >= 1);
  }
  assert.equal(firsts.depth("r0"), 0);
});

/** `node`'s chain in `tree` up to the tree's top (the root, or the standby that tops its colour's tree). */
function chainOf(tree: TreePlan, node: string): string[] {
  const chain: string[] = [];
  for (let at: string | undefined = node; at !== undefined; at = tree.parent.get(at)) chain.push(at);
  assert.equal(chain.at(-1), tree.root, `${node} does not reach ${tree.root}`);
  return chain;
}

Deno.test("planDual with a standby: any one relay's death, the root's included, leaves every other relay fed", () => {
  fc.assert(
    fc.property(clusters, ({ size, zones, fanout, seed, wantShare }) => {
      let r = seed >>> 0;
      const rand = () => ((r = (Math.imul(r, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      const members: PlanMember[] = Array.from({ length: size }, (_, i) => ({
        node: `n${String(i).padStart(3, "0")}`,
        zone: `z${Math.floor(rand() * zones)}`,
      }));
      if (size < 2) return;
      const root = members[0]!.node;
      const standby = members[1 + Math.floor(rand() * (size - 1))]!.node;
      const wanting = new Set([standby, ...members.filter(() => rand() < wantShare).map((m) => m.node)]);
      const plan = planDual({ root, members, wanting, fanout }, undefined, standby);
      assert.equal(plan.standby, standby);
      const want = [...wanting].filter((n) => n !== root);
      const mine = plan.colour.get(standby) === "red" ? plan.red : plan.blue;
      const theirs = mine === plan.red ? plan.blue : plan.red;
      assert.equal(mine.root, standby);
      assert.equal(theirs.root, root);
      assert.deepEqual(plan.parents.get(standby), [theirs.parent.get(standby)], "the standby has one parent");
      assert.deepEqual(
        theirs.children.get(standby) ?? [],
        [],
        "the standby has no children in the root's tree",
      );
      const first = firstParents(plan);
      for (const node of want) {
        // Fed when one of its chains is alive up to a source: the root, or the standby with its own camera pull.
        const chains = [chainOf(plan.red, node), chainOf(plan.blue, node)];
        for (const dead of [root, ...want]) {
          if (dead === node) continue;
          const fed = chains.some((c) => !c.includes(dead));
          assert.ok(fed, `${node} loses both paths when ${dead} dies (${chains.join(" | ")})`);
        }
        for (const tree of [plan.red, plan.blue]) {
          assert.ok((tree.children.get(node) ?? []).length <= fanout);
        }
        assert.ok(first.depth(node)! >= 1);
      }
      assert.ok(
        (plan.red.children.get(root) ?? []).length + (plan.blue.children.get(root) ?? []).length <= fanout,
      );
    }),
    { numRuns: 500 },
  );
});

Deno.test("planDual: a standby that does not want the stream tops no tree", () => {
  const members = ["a", "b", "c", "d"].map((node) => ({ node, zone: "z" }));
  const plan = planDual({ root: "a", members, wanting: new Set(["c", "d"]), fanout: 2 }, undefined, "b");
  assert.equal(plan.standby, null);
  assert.equal(plan.red.root, "a");
  assert.equal(plan.blue.root, "a");
});
