/**
 * `deno bench bench/planner_bench.ts`: time of {@linkcode planTree} for a fresh plan and for repairs after a join
 * and a leave, at 1,000 and 5,000 members.
 * @module
 */
import { type PlanInput, planTree, type TreePlan } from "../src/cluster/planner.ts";

function scenario(size: number, zones: number, fanout: number): { input: PlanInput; plan: TreePlan } {
  const members = Array.from({ length: size }, (_, i) => ({ node: `node-${i}`, zone: `zone-${i % zones}` }));
  const input: PlanInput = { root: "node-0", members, wanting: new Set(members.map((m) => m.node)), fanout };
  return { input, plan: planTree(input) };
}

for (const [size, zones, fanout] of [[1000, 10, 4], [1000, 1000, 4], [5000, 20, 4]] as const) {
  const { input, plan } = scenario(size, zones, fanout);
  const name = `${size} members, ${zones} zones, k = ${fanout}`;
  const leaver = [...plan.children].find(([node, list]) => node !== input.root && list.length === fanout)
    ?.[0];
  const left: PlanInput = {
    ...input,
    wanting: new Set([...input.wanting].filter((node) => node !== leaver)),
    previous: plan,
  };
  const joined: PlanInput = {
    ...input,
    members: [...input.members, { node: "joiner", zone: "zone-1" }],
    wanting: new Set([...input.wanting, "joiner"]),
    previous: plan,
  };
  Deno.bench(`planTree() fresh: ${name}`, { group: name, baseline: true }, () => {
    planTree(input);
  });
  Deno.bench(`planTree() after a join: ${name}`, { group: name }, () => {
    planTree(joined);
  });
  Deno.bench(`planTree() after a leave: ${name}`, { group: name }, () => {
    planTree(left);
  });
}
