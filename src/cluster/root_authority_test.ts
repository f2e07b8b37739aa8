/**
 * Tests of the root's authority on exact times: joins placing members under the fan-out, leases that run out,
 * leaves, renewals (refused for unknown paths, non-members and stale epochs, changing nothing), suspects a member may
 * and may not blame, unknown members, and plans redone only when their inputs change.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { PeerRef } from "./mesh_protocol.ts";
import type { PlanMember } from "./planner.ts";
import { type Assignment, type PlanView, RootAuthority } from "./root_authority.ts";

const ref = (node: string): PeerRef => ({ node, host: `h-${node}`, adminPort: 8080, meshPort: 7000 });
const ROOT = ref("root");
const LEASE = 1000;

function view(nodes: string[], noted: string[] = [], key = nodes.join(",")): PlanView {
  const live: PlanMember[] = ["root", ...nodes].map((node) => ({ node, zone: "z" }));
  return {
    key,
    live,
    noted: (n) => noted.includes(n),
    refOf: (n) => (live.some((p) => p.node === n) ? ref(n) : undefined),
  };
}

function authority(fanout = 2) {
  const errors: string[] = [];
  const a = new RootAuthority<string>({
    self: ROOT,
    fanout,
    leaseMs: LEASE,
    onPlanError: (path, err) => errors.push(`${path}: ${String(err)}`),
  });
  a.open("cam", "stream-cam", "root/0011223344556677/e1");
  return { a, errors };
}

function join(a: RootAuthority<string>, node: string, now: number, v: PlanView, readers = 1): Assignment {
  assert(a.admit("cam", ref(node), readers, now));
  return a.assign("cam", node, v)!;
}

Deno.test("RootAuthority.open() opens a tree once, with its epoch and handle", () => {
  const { a } = authority();
  assertEquals(a.open("cam", "other", "x"), false, "already open: kept as it was");
  assertEquals([a.has("cam"), a.handle("cam"), a.epochOf("cam")], [
    true,
    "stream-cam",
    "root/0011223344556677/e1",
  ]);
  assertEquals([a.has("door"), a.epochOf("door"), a.assign("door", "b", view(["b"]))], [false, null, null]);
  assertEquals(a.admit("door", ref("b"), 1, 0), false, "no tree: no member");
});

Deno.test("RootAuthority places members under the root, then under members, never past the fan-out", () => {
  const { a } = authority(2);
  const v = view(["b", "c", "d", "e", "f"]);
  assertEquals(join(a, "b", 0, v), { parent: ROOT, depth: 1 });
  assertEquals(join(a, "c", 0, v), { parent: ROOT, depth: 1 });
  const d = join(a, "d", 0, v);
  assertEquals(d.depth, 2);
  assert(["b", "c"].includes(d.parent.node));
  for (const n of ["e", "f"]) join(a, n, 0, v);
  const plan = a.plan("cam")!;
  for (const kids of plan.children.values()) assert(kids.length <= 2);
  assertEquals(plan.parent.size, 5);
});

Deno.test("RootAuthority: a member without readers is fed by the root, outside the plan", () => {
  const { a } = authority();
  const v = view(["b", "c"]);
  join(a, "b", 0, v);
  assertEquals(join(a, "c", 0, v, 0), { parent: ROOT, depth: 1 });
  assertEquals(a.plan("cam")!.parent.has("c"), false);
  assertEquals(a.isMember("cam", "c"), true);
});

Deno.test("RootAuthority.expire() drops members after 4 leases without a renewal, then the tree can close", () => {
  const { a } = authority();
  const v = view(["b", "c"]);
  join(a, "b", 0, v);
  join(a, "c", 2000, v);
  assertEquals(a.expire(4000), []);
  assertEquals(a.expire(4001), ["cam"]);
  assertEquals(a.members("cam").map((m) => m.ref.node), ["c"]);
  assertEquals(a.dropIfEmpty("cam"), undefined, "c still a member: the tree stays");
  assertEquals(a.assign("cam", "c", v)!.parent, ROOT);
  assertEquals(a.plan("cam")!.parent.has("b"), false, "re-planned without b");
  a.expire(6001);
  assertEquals(a.dropIfEmpty("cam"), "stream-cam");
  assertEquals(a.has("cam"), false);
});

Deno.test("RootAuthority.leave() removes a member and moves its children", () => {
  const { a } = authority(1);
  const v = view(["b", "c"]);
  join(a, "b", 0, v);
  assertEquals(join(a, "c", 0, v).parent.node, "b");
  assertEquals(a.leave("cam", "x"), false, "not a member: nothing");
  assertEquals(a.leave("door", "b"), false, "no tree: nothing");
  assertEquals(a.leave("cam", "b"), true);
  assertEquals(a.assign("cam", "c", v), { parent: ROOT, depth: 1 });
});

Deno.test("RootAuthority.renew() refreshes the lease and answers the place; refusals change nothing", () => {
  const { a } = authority();
  const v = view(["b", "c"]);
  join(a, "b", 0, v);
  const epoch = a.epochOf("cam")!;
  assertEquals(a.renew("cam", "b", 1, epoch, 3000, v), { parent: ROOT, depth: 1 });
  assertEquals(a.expire(4500), [], "the renewal at 3000 holds until 7000");
  const before = JSON.stringify(a.members("cam"));
  assertEquals(a.renew("door", "b", 1, epoch, 3500, v), {
    status: 404,
    error: `"door" has no tree here: join again`,
  });
  assertEquals(a.renew("cam", "c", 1, epoch, 3500, v), {
    status: 404,
    error: `c is not a member of "cam" here: join again`,
  });
  const stale = a.renew("cam", "b", 1, "root/ffffffffffffffff/old", 3500, v);
  assertEquals((stale as { status: number }).status, 409);
  assertEquals(
    JSON.stringify(a.members("cam")),
    before,
    "refused renewals leave leases and readers as they were",
  );
  assertEquals(a.has("door"), false);
});

Deno.test("RootAuthority.blameable(): a member blames its own parent or outsiders, never another member", () => {
  const { a } = authority(1);
  const v = view(["b", "c", "d"]);
  join(a, "b", 0, v);
  join(a, "c", 0, v);
  join(a, "d", 0, v); // a chain: root -> b -> c -> d
  assertEquals(a.plan("cam")!.parent.get("c"), "b");
  assertEquals(a.blameable("cam", "c", ["b", "d", "c", "root", "old-root"]), ["b", "old-root"]);
  assertEquals(a.blameable("door", "c", ["b", "c"]), ["b"], "no tree: only itself and the root are excluded");
});

Deno.test("RootAuthority: members unknown to the view count in their own zone unless they were suspected", () => {
  const { a } = authority();
  join(a, "x", 0, view(["b"], [], "k1"));
  assertEquals(a.plan("cam")!.parent.get("x"), "root");
  a.replanAll(view(["b"], ["x"], "k2"));
  assertEquals(a.plan("cam")!.parent.has("x"), false, "suspected and not heard since: out of the plan");
  assertEquals(
    a.assign("cam", "x", view(["b"], ["x"], "k2")),
    { parent: ROOT, depth: 1 },
    "still fed by the root",
  );
});

Deno.test("RootAuthority plans again only when a member, its readers or the view changed", () => {
  const { a } = authority();
  let plans = 0;
  const counting = (v: PlanView): PlanView => ({
    ...v,
    get live() {
      plans++;
      return v.live;
    },
  });
  const v = counting(view(["b", "c"], [], "k1"));
  join(a, "b", 0, v);
  assertEquals(plans, 1);
  const epoch = a.epochOf("cam")!;
  for (let t = 1000; t <= 5000; t += 1000) a.renew("cam", "b", 3, epoch, t, v);
  assertEquals(plans, 1, "renewals with readers still > 0: no planning");
  a.renew("cam", "b", 0, epoch, 6000, v);
  assertEquals(plans, 2, "readers gone: planned again");
  a.replanAll(v);
  assertEquals(plans, 2);
  a.replanAll(counting(view(["b"], [], "k2")));
  assertEquals(plans, 3, "a new view: planned again");
});

Deno.test("RootAuthority keeps the last plan when the planner refuses its input, and says so", () => {
  const { a, errors } = authority();
  join(a, "b", 0, view(["b"]));
  const bad: PlanView = {
    ...view(["b"], [], "bad"),
    live: [{ node: "root", zone: "z" }, { node: "root", zone: "y" }],
  };
  a.replanAll(bad);
  assertEquals(errors.length, 1);
  assertEquals(a.plan("cam")!.parent.get("b"), "root");
});

Deno.test("RootAuthority.dropAll() closes every tree and hands back the handles", () => {
  const { a } = authority();
  a.open("door", "stream-door", "e");
  assertEquals(a.dropAll().sort(), ["stream-cam", "stream-door"]);
  assertEquals(a.paths(), []);
});

Deno.test("RootAuthority.drop() closes a tree whatever its members (the root moved away)", () => {
  const { a } = authority();
  join(a, "b", 0, view(["b"]));
  assertEquals(a.drop("cam"), "stream-cam");
  assertEquals([a.has("cam"), a.epochOf("cam"), a.isMemberAnywhere("b")], [false, null, false]);
  assertEquals(a.drop("cam"), undefined);
});

Deno.test("RootAuthority with dual protection answers every member two parents, the first its parent", () => {
  const a = new RootAuthority<string>({
    self: ROOT,
    fanout: 2,
    leaseMs: LEASE,
    protection: (path) => (path === "cam" ? "dual" : "none"),
  });
  a.open("cam", "stream-cam", "root/0011223344556677/e1");
  a.open("door", "stream-door", "root/0011223344556677/e2");
  const nodes = ["a", "b", "c", "d", "e"];
  const v = view(nodes);
  for (const node of nodes) join(a, node, 0, v);
  const dual = a.dualPlan("cam")!;
  for (const node of nodes) {
    const place = a.assign("cam", node, v)!;
    const parents = dual.parents.get(node)!;
    assertEquals(place.parent.node, parents[0]);
    if (parents.length === 2) assertEquals(place.parents?.map((p) => p.node), parents);
    else assertEquals(place.parents, undefined, "one parent (the root) when both would be it");
  }
  assert(nodes.some((n) => a.assign("cam", n, v)!.parents?.length === 2), "someone has two parents");
  // A member may blame either of its parents.
  const [first, second] = dual.parents.get("e")!;
  for (const p of [first, second]) if (p && p !== "root") assertEquals(a.blameable("cam", "e", [p]), [p]);
  assertEquals(authority().a.dualPlan("cam"), null, "none: no dual plan");
  assert(a.admit("door", ref("a"), 1, 0));
  assertEquals(
    [a.assign("door", "a", v)?.parents, a.dualPlan("door")],
    [undefined, null],
    "another path: none",
  );
});

Deno.test("RootAuthority tops a tree with the standby root only once it says it pulls the camera, aligned", () => {
  const a = new RootAuthority<string>({
    self: ROOT,
    fanout: 2,
    leaseMs: LEASE,
    protection: () => "dual",
    standby: () => "c",
  });
  a.open("cam", "stream-cam", "root/0011223344556677/e1");
  const nodes = ["a", "b", "c", "d", "e"];
  const v = view(nodes);
  for (const node of nodes) join(a, node, 0, v);
  assertEquals(
    a.dualPlan("cam")!.standby,
    null,
    "c has not said it is aligned: both trees start at the root",
  );
  // Its renewal says it pulls the camera, aligned: the plan changes at once (not at the next view change).
  const place = a.renew("cam", "c", 1, "root/0011223344556677/e1", 10, v, true);
  assert(!("status" in place));
  const dual = a.dualPlan("cam")!;
  assertEquals(dual.standby, "c");
  assertEquals(dual.parents.get("c")!.length, 1, "the standby has one parent: its other path is the camera");
  assert([...dual.parents.values()].some((p) => p.includes("c")), "c feeds its colour's tree");
  // It stops saying so (its session restarted and is aligning again): back to two trees from the root.
  a.renew("cam", "c", 1, "root/0011223344556677/e1", 20, v, false);
  assertEquals(a.dualPlan("cam")!.standby, null);
});
