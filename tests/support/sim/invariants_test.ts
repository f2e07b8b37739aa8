/**
 * Each invariant checker against a hand-built tree that breaks it (and the good tree it starts from), so a
 * checker that stopped finding anything would fail here.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  checkDisjoint,
  checkLoops,
  checkPath,
  type ClusterSnapshot,
  lingeringCopies,
  type ReaderSnapshot,
  type RelaySnapshot,
  type TreeSnapshot,
} from "./invariants.ts";

interface Spec {
  zone?: string;
  parent?: string | null;
  children?: string[];
  root?: boolean;
  dead?: boolean;
  configured?: boolean;
  parents?: string[];
  standby?: boolean;
}

function relay(node: string, s: Spec): RelaySnapshot {
  const trees = new Map<string, TreeSnapshot>();
  if (s.root || s.parent !== undefined || s.children) {
    trees.set("cam", {
      role: s.root ? "root" : "member",
      parent: s.parent ?? null,
      ...(s.parents ? { parents: s.parents } : {}),
      ...(s.standby ? { standby: true } : {}),
      children: s.children ?? [],
    });
  }
  return {
    node,
    zone: s.zone ?? "z1",
    alive: !s.dead,
    configured: new Set(s.configured === false ? [] : ["cam"]),
    trees,
  };
}

function reader(node: string, lastPacketAt = 9900): ReaderSnapshot {
  return { id: `r-${node}`, node, path: "cam", playingSince: 1000, waitingSince: -1, lastPacketAt };
}

function snap(relays: Record<string, Spec>, readers: ReaderSnapshot[], fanout = 2): ClusterSnapshot {
  return {
    now: 10_000,
    fanout,
    relays: Object.entries(relays).map(([n, s]) => relay(n, s)),
    readers,
  };
}

/** a (root) -> b, c; b -> d; all in zone z1; readers on b, c, d. */
function good(): Record<string, Spec> {
  return {
    a: { root: true, children: ["b", "c"] },
    b: { parent: "a", children: ["d"] },
    c: { parent: "a" },
    d: { parent: "b" },
  };
}
const readers = [reader("b"), reader("c"), reader("d")];

Deno.test("checkPath() accepts a good tree", () => {
  assertEquals(checkPath(snap(good(), readers), "cam"), []);
});

Deno.test("checkPath() counts a lingering member's copy apart, unless strict", () => {
  const t = good();
  t.a!.children = ["b", "c", "e"];
  t.e = { parent: "a" }; // no reader, no child: its last reader left, it lingers
  assertEquals(checkPath(snap(t, readers), "cam"), []);
  assertEquals(lingeringCopies(snap(t, readers), "cam"), 1);
  assertEquals(checkPath(snap(t, readers), "cam", { strictLinger: true }), [
    "cam: a has 3 children > k = 2 (b, c, e)",
  ]);
});

Deno.test("checkPath() finds more than k children", () => {
  const t = good();
  t.a!.children = ["b", "c", "d"];
  t.d!.parent = "a";
  t.b!.children = [];
  const found = checkPath(snap(t, readers), "cam");
  assert(found.some((v) => v.includes("a has 3 children > k = 2")), found.join("\n"));
});

Deno.test("checkPath() finds a tree deeper than ceil(log_k N) + 1", () => {
  // a chain a -> b -> c -> d -> e with k = 2: N = 5, bound ceil(log2 5) + 1 = 4; e is at depth 4: fine; add f.
  const t: Record<string, Spec> = {
    a: { root: true, children: ["b"] },
    b: { parent: "a", children: ["c"] },
    c: { parent: "b", children: ["d"] },
    d: { parent: "c", children: ["e"] },
    e: { parent: "d", children: ["f"] },
    f: { parent: "e" },
  };
  // N = 6: bound ceil(log2 6) + 1 = 4; f is at depth 5.
  const found = checkPath(snap(t, [reader("f")]), "cam");
  assertEquals(found, ["cam: f at depth 5 > ceil(log_k N) + 1 = 4 (N = 6)"]);
});

Deno.test("checkPath() finds two copies entering one zone, and one entering the root's", () => {
  const t = good();
  t.c!.zone = "z2";
  t.d!.zone = "z2";
  const found = checkPath(snap(t, readers), "cam");
  assertEquals(found, ['cam: 2 copies enter zone "z2": a->c, b->d']);
  const back = good();
  back.b!.zone = "z2";
  back.d!.zone = "z1";
  const found2 = checkPath(snap(back, readers), "cam");
  assertEquals(found2, ['cam: copies enter the root\'s zone "z1": b->d']);
});

Deno.test("checkPath() finds a relay with readers that does not reach the root", () => {
  const t = good();
  t.b!.children = []; // b dropped d, d still thinks b feeds it
  const found = checkPath(snap(t, readers), "cam");
  assertEquals(found, ["cam: d has readers but does not reach the root a"]);
});

Deno.test("checkPath() finds a copy sent to a dead relay, or to one that takes it from another parent", () => {
  const t = good();
  t.d!.dead = true;
  assertEquals(checkPath(snap(t, [reader("b"), reader("c")]), "cam"), [
    "cam: b sends a copy to d, which is dead",
  ]);
  const t2 = good();
  t2.a!.children = ["b", "c"];
  t2.c!.children = ["d"]; // c also sends to d, which takes b's copy
  assertEquals(checkPath(snap(t2, readers), "cam"), ["cam: c sends a copy to d, whose parent is b"]);
});

Deno.test("checkPath() finds no root, two roots, and a root that is not configured with the path", () => {
  const none = good();
  none.a!.root = false;
  none.a!.parent = null;
  assert(checkPath(snap(none, readers), "cam").includes("cam: no root, 3 reader(s) wait"));
  const two = good();
  two.c = { root: true };
  assert(checkPath(snap(two, readers), "cam").includes("cam: 2 roots: a, c"));
  const stranger = good();
  stranger.a!.configured = false;
  assert(checkPath(snap(stranger, readers), "cam").includes("cam: root a is not configured with the path"));
});

Deno.test("checkPath() finds readers starved of media or never playing", () => {
  const found = checkPath(snap(good(), [reader("b", 8000), reader("c")]), "cam");
  assertEquals(found, ["cam: reader r-b on b got no media for 2000 ms"]);
  const waiting = { ...reader("c"), playingSince: -1, waitingSince: 4000 };
  assertEquals(checkPath(snap(good(), [waiting]), "cam"), [
    "cam: reader r-c on c is not playing (waiting since 4000)",
  ]);
});

Deno.test("checkPath() says nothing when no live relay is configured with the path", () => {
  const t = good();
  for (const s of Object.values(t)) s.configured = false;
  assertEquals(checkPath(snap(t, readers), "cam"), []);
});

Deno.test("checkLoops() finds a parent loop once, whichever relay it starts from", () => {
  const live = [
    relay("a", { root: true, children: [] }),
    relay("b", { parent: "c" }),
    relay("c", { parent: "d" }),
    relay("d", { parent: "b" }),
    relay("e", { parent: "b" }),
  ];
  assertEquals(checkLoops("cam", live), ["cam: parent loop b -> c -> d -> b"]);
  assertEquals(checkLoops("cam", [relay("a", { root: true }), relay("b", { parent: "a" })]), []);
});

Deno.test("checkDisjoint: a member's two paths may share the root only", () => {
  // a (root) -> b -> d, a -> c; e's parents d and c: paths a-b-d and a-c, disjoint.
  const ok = {
    a: { root: true, children: ["b", "c"] },
    b: { parent: "a", children: ["d"] },
    c: { parent: "a", children: ["e"] },
    d: { parent: "b", children: ["e"] },
    e: { parent: "d", parents: ["d", "c"] },
  };
  const live = Object.entries(ok).map(([n, s]) => relay(n, s));
  assertEquals(checkDisjoint("cam", live, "a"), []);
  // e's parents d and b: d's path goes through b.
  const bad = { ...ok, e: { parent: "d", parents: ["d", "b"] } };
  const found = checkDisjoint("cam", Object.entries(bad).map(([n, s]) => relay(n, s)), "a");
  assertEquals(found.length, 1);
  assert(/e's two paths share b/.test(found[0]!), found[0]);
  // A path back through the member itself.
  const loop = { ...ok, c: { parent: "e", children: ["e"] }, e: { parent: "d", parents: ["d", "c"] } };
  assertEquals(checkDisjoint("cam", Object.entries(loop).map(([n, s]) => relay(n, s)), "a").length, 1);
});

Deno.test("checkDisjoint: a path may end at an aligned standby root (it pulls the camera itself)", () => {
  // a (root) -> b -> s (standby) -> c; e's parents c and b: c's path goes up through s to b unless s is a source.
  const tree = {
    a: { root: true, children: ["b"] },
    b: { parent: "a", children: ["s", "e"] },
    s: { parent: "b", children: ["c"], standby: true },
    c: { parent: "s", children: ["e"] },
    e: { parent: "c", parents: ["c", "b"] },
  };
  assertEquals(checkDisjoint("cam", Object.entries(tree).map(([n, s]) => relay(n, s)), "a"), []);
  // The same tree with s not aligned (or not the standby): both of e's paths hang on b.
  const unaligned = { ...tree, s: { parent: "b", children: ["c"] } };
  const found = checkDisjoint("cam", Object.entries(unaligned).map(([n, s]) => relay(n, s)), "a");
  assertEquals(found.length, 1);
  assert(/e's two paths share b/.test(found[0]!), found[0]);
});
