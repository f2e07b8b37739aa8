/**
 * Tests of the parent's child table: subscriptions added, replaced and removed, counts, heartbeats keeping every
 * subscription of a child alive, and silence past the timeout listing exactly the silent ones.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { childEgressId, type ChildSub, ChildTable } from "./child_table.ts";

function sub(node: string, streamId: number, lastHeard: number, tracks = 2): ChildSub {
  return {
    node,
    ref: { node, host: "127.0.0.2", adminPort: 8080, meshPort: 7000, incarnation: "0011223344556677" },
    to: { transport: "udp", hostname: "127.0.0.2", port: 7000 },
    incarnation: new Uint8Array(8),
    streamId,
    epoch: "root/0011223344556677/a",
    egressIds: Array.from({ length: tracks }, (_, t) => childEgressId(node, streamId, t)),
    lastHeard,
  };
}

Deno.test("childEgressId() names child, stream id and track", () => {
  assertEquals(childEgressId("node-b", 77, 1), "mesh:node-b:77:1");
});

Deno.test("ChildTable.add() records a child; a second subscribe replaces and returns the first", () => {
  const t = new ChildTable();
  assertEquals(t.add("cam", sub("b", 1, 0)), undefined);
  assertEquals(t.add("cam", sub("c", 2, 0)), undefined);
  const replaced = t.add("cam", sub("b", 3, 5));
  assertEquals(replaced?.streamId, 1);
  assertEquals(t.get("cam", "b")?.streamId, 3);
  assertEquals([t.count("cam"), t.size], [2, 2]);
  assertEquals(t.childrenOf("cam").map((s) => s.node), ["b", "c"]);
});

Deno.test("ChildTable.remove() forgets one subscription and the path once empty", () => {
  const t = new ChildTable();
  t.add("cam", sub("b", 1, 0));
  t.add("door", sub("b", 2, 0));
  assertEquals(t.remove("cam", "x"), undefined, "unknown child: nothing");
  assertEquals(t.remove("nope", "b"), undefined, "unknown path: nothing");
  assertEquals(t.remove("cam", "b")?.streamId, 1);
  assertEquals(t.remove("cam", "b"), undefined, "twice: nothing");
  assertEquals(t.paths(), ["door"]);
  assertEquals(t.counts(), new Map([["door", 1]]));
  assertEquals(t.nodes(), new Set(["b"]));
});

Deno.test("ChildTable.heard() keeps every subscription of the child alive; silent() lists the rest", () => {
  const t = new ChildTable();
  t.add("cam", sub("b", 1, 0));
  t.add("door", sub("b", 2, 0));
  t.add("cam", sub("c", 3, 0));
  t.heard("b", 2500);
  t.heard("zz", 2500); // not a child: nothing
  assertEquals(t.silent(3000, 3000), [], "3000 ms of silence is not more than the timeout");
  const silent = t.silent(3001, 3000);
  assertEquals(silent.map((s) => `${s.path}/${s.sub.node}`), ["cam/c"]);
  assertEquals(t.silent(5501, 3000).length, 3);
});

Deno.test("ChildTable.byStreamId() finds the subscriptions a frame's stream id names, and forgets replaced ones", () => {
  const t = new ChildTable();
  t.add("cam", sub("b", 1, 0));
  t.add("door", sub("c", 1, 0)); // another child picked the same id
  assertEquals(t.byStreamId(1).map((e) => [e.path, e.sub.node]), [["cam", "b"], ["door", "c"]]);
  t.add("cam", sub("b", 9, 0)); // re-subscribed with a new id
  assertEquals(t.byStreamId(1).map((e) => e.sub.node), ["c"]);
  assertEquals(t.byStreamId(9).map((e) => e.sub.node), ["b"]);
  t.remove("door", "c");
  assertEquals(t.byStreamId(1), []);
});
