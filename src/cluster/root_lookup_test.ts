/**
 * Tests of root lookup with scripted peers and a manual clock: configured cameras located among the relays
 * configured with them (unknown relays counted as configured), "rooted here", publishers found by asking, answers
 * cached and forgotten, one lookup per path at a time, a bound on lookups, and 404 only when nobody can serve.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Peer } from "./discovery.ts";
import { testPeer } from "../../tests/support/peer_fixture.ts";
import {
  locateConfigured,
  locateStandby,
  RootLookup,
  type RootLookupResult,
  type RootQuery,
} from "./root_lookup.ts";

const peer = (node: string): Peer => testPeer(node, `127.0.0.${node.charCodeAt(0) - 90}`);
const LIVE = ["a", "b", "c", "d"].map(peer);
const CAMERA = "rtsp://10.9.9.9/live";
const statusOf = (r: RootLookupResult) => ("status" in r ? r.status : 200);

function query(over: Partial<RootQuery> = {}): RootQuery {
  return {
    path: "cam",
    url: undefined,
    live: LIVE,
    self: "a",
    serviceEndpoints: () => null,
    configured: new Set(),
    known: () => true,
    ...over,
  };
}

function lookup(serves: Record<string, string[]> = {}) {
  let now = 0;
  const asked: string[] = [];
  const l = new RootLookup({
    now: () => now,
    ask: async (p, path) => {
      asked.push(`${p.node}:${path}`);
      await Promise.resolve();
      if (p.node === "x") throw new Error("unreachable");
      return serves[p.node]?.includes(path) ?? false;
    },
  });
  return {
    l,
    asked,
    advance: (ms: number) => (now += ms),
  };
}

Deno.test("locateConfigured() chooses among relays configured with the path, and those not known yet", () => {
  const only = locateConfigured({ ...query({ configured: new Set(["c"]) }), url: CAMERA });
  assertEquals(only, { kind: "root", node: "c", rule: "hash" });
  const unknownD = locateConfigured({
    ...query({ configured: new Set(["c"]), known: (n) => n !== "d" }),
    url: CAMERA,
  });
  assertEquals(unknownD.kind, "root");
  assertEquals(["c", "d"].includes((unknownD as { node: string }).node), true);
  const none = locateConfigured({ ...query({ live: [peer("a")], configured: new Set(["c"]) }), url: CAMERA });
  assertEquals(none.kind, "none");
});

Deno.test("RootLookup.find(): a configured camera is located, not asked; here means re-home", async () => {
  const { l, asked } = lookup();
  assertEquals(await l.find(query({ url: CAMERA, configured: new Set(["b"]) })), {
    root: { node: "b", host: "127.0.0.8", adminPort: 8080, meshPort: 7000 },
  });
  assertEquals(await l.find(query({ url: CAMERA, configured: new Set(["a"]) })), {
    rootedHere: true,
    missing: `"cam" is now rooted here`,
    status: 503,
  });
  const none = await l.find(query({ url: CAMERA, live: [peer("a")], configured: new Set(["z"]) }));
  assertEquals(none, { missing: `no live relay is configured with "cam"`, status: 503 });
  assertEquals(asked, []);
});

Deno.test("RootLookup.find(): a publisher elsewhere is found by asking, then cached until it is suspected", async () => {
  const { l, asked, advance } = lookup({ c: ["cam"] });
  assertEquals(await l.find(query()), {
    root: { node: "c", host: "127.0.0.9", adminPort: 8080, meshPort: 7000 },
  });
  assertEquals(asked.sort(), ["b:cam", "c:cam", "d:cam"], "every other live relay, not itself");
  asked.length = 0;
  advance(4999);
  assertEquals("root" in await l.find(query()), true);
  assertEquals(asked, [], "cached");
  l.forget("c");
  await l.find(query());
  assertEquals(asked.length, 3, "forgotten: asked again");
  asked.length = 0;
  advance(1000);
  await l.find(query({ live: LIVE.filter((p) => p.node !== "c") }));
  assertEquals(asked.length, 2, "the cached root is no longer live: asked again");
  assertEquals(l.cached.roots, 1);
});

Deno.test("RootLookup.find(): nobody serves it: 404, remembered for a moment", async () => {
  const { l, asked, advance } = lookup();
  assertEquals(await l.find(query()), { missing: `No relay serves "cam"`, status: 404 });
  asked.length = 0;
  advance(999);
  assertEquals(await l.find(query()), { missing: `No relay serves "cam"`, status: 404 });
  assertEquals(asked, []);
  advance(1);
  await l.find(query());
  assertEquals(asked.length, 3);
});

Deno.test("RootLookup.find(): 503, not 404, while a configured relay or one not known yet may serve it", async () => {
  const { l } = lookup();
  assertEquals(statusOf(await l.find(query({ configured: new Set(["b"]) }))), 503);
  assertEquals(statusOf(await l.find(query({ known: (n) => n !== "d" }))), 503);
  assertEquals(l.cached.missing, 0, "not remembered as missing");
});

Deno.test("RootLookup.find(): a camera configured elsewhere is asked only of the relays configured with it", async () => {
  const { l, asked } = lookup({ b: ["cam"], c: ["cam"] });
  const found = await l.find(query({ configured: new Set(["b"]) }));
  assertEquals(asked, ["b:cam"]);
  assertEquals((found as { root: { node: string } }).root.node, "b");
});

Deno.test("RootLookup.find(): a peer that fails to answer counts as no", async () => {
  const { l } = lookup({ c: ["cam"] });
  const found = await l.find(query({ live: [peer("a"), peer("x"), peer("c")] }));
  assertEquals((found as { root: { node: string } }).root.node, "c");
});

Deno.test("RootLookup.find(): one lookup per path at a time, and at most maxLookups paths at once", async () => {
  let now = 0;
  let asks = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const l = new RootLookup({
    now: () => now,
    maxLookups: 2,
    ask: async () => {
      asks++;
      await gate;
      return false;
    },
  });
  const q = (path: string) => query({ path, live: [peer("a"), peer("b")] });
  const first = [l.find(q("p1")), l.find(q("p1")), l.find(q("p2"))];
  assertEquals(await l.find(q("p3")), {
    missing: "Too many paths are being looked up in the mesh; retry",
    status: 503,
  });
  open();
  const answers = await Promise.all(first);
  assertEquals(answers.map(statusOf), [404, 404, 404]);
  assertEquals(asks, 2, "p1 asked once for both readers, p2 once");
  now += 2000;
  assertEquals(statusOf(await l.find(q("p3"))), 404, "room again");
});

Deno.test("RootLookup bounds its caches", async () => {
  const l = new RootLookup({ now: () => 0, maxPaths: 3, ask: () => Promise.resolve(false) });
  for (let i = 0; i < 10; i++) await l.find(query({ path: `p${i}`, live: [peer("a"), peer("b")] }));
  assertEquals(l.cached.missing, 3);
});

Deno.test("locateStandby() is where the root moves when it dies: the same rule without the root", () => {
  const configured = new Set(["a", "b", "c", "d"]);
  const q = { ...query({ configured }), url: CAMERA };
  const root = locateConfigured(q);
  if (root.kind !== "root") throw new Error("no root");
  const standby = locateStandby(q, root.node);
  const withoutRoot = locateConfigured({ ...q, live: LIVE.filter((p) => p.node !== root.node) });
  assertEquals(withoutRoot.kind === "root" && withoutRoot.node, standby);
  assertEquals(standby !== root.node, true);
  // A camera on one relay's host: that relay is the root, the standby is the hash's choice among the others.
  const onB = { ...q, url: "rtsp://127.0.0.8/live" };
  assertEquals(
    locateConfigured(onB).kind === "root" && (locateConfigured(onB) as { node: string }).node,
    "b",
  );
  assertEquals(["a", "c", "d"].includes(locateStandby(onB, "b")!), true);
  // Only one relay configured with the camera: no standby.
  assertEquals(locateStandby({ ...query({ configured: new Set(["c"]) }), url: CAMERA }, "c"), null);
});
