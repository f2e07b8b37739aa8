import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { MESH_DEST_SIZE, meshRouteNarrows, packMeshChildren, type PlaneMeshChild } from "./mesh_route.ts";
import { compileRoute, routeNarrows } from "./route.ts";

const child = (i: number, host = "127.0.0.1"): PlaneMeshChild => ({
  id: `mesh:c${i}:p:0`,
  host,
  port: 7000 + i,
  streamId: 0x01020304 + i,
  track: i,
  incarnation: new Uint8Array(8).fill(0xa0 + i),
});

Deno.test("packMeshChildren() lays out each IPv4 child: sockaddr, stream id, track, incarnation", () => {
  const { dests, ids } = packMeshChildren([child(1), child(2, "::1"), child(3)]);
  assertEquals(ids, ["mesh:c1:p:0", "mesh:c3:p:0"], "the IPv6 child stays with the main thread");
  assertEquals(dests.length, 2 * MESH_DEST_SIZE);
  assertEquals([...dests.subarray(0, 8)], [2, 0, 0x1b, 0x59, 127, 0, 0, 1]); // AF_INET (LE), port 7001 (BE), 127.0.0.1
  assertEquals([...dests.subarray(16, 24)], [1, 2, 3, 5, 1, 0, 0, 0]); // stream id (BE), track, 3 bytes 0
  assertEquals([...dests.subarray(24, 32)], new Array(8).fill(0xa1));
});

Deno.test("meshRouteNarrows() is true only when every child is already served from the same socket", () => {
  const ab = { fd: 5, dests: packMeshChildren([child(1), child(2)]).dests };
  const a = { fd: 5, dests: packMeshChildren([child(1)]).dests };
  assertEquals(meshRouteNarrows(ab, a), true);
  assertEquals(meshRouteNarrows(a, ab), false);
  assertEquals(meshRouteNarrows(a, { fd: 6, dests: a.dests }), false);
  assertEquals(meshRouteNarrows(null, null), true);
  assertEquals(meshRouteNarrows(ab, null), true);
  assertEquals(meshRouteNarrows(null, a), false);
});

Deno.test("compileRoute() serves mesh children by id and widens the route by them", () => {
  const base = {
    source: { host: "127.0.0.1", port: 5000 },
    map: { ssrc: 1, seqDelta: 0, tsDelta: 0, outSsrc: 2 },
  };
  const none = compileRoute({ ...base, readers: [], prompt: false });
  const one = compileRoute({ ...base, readers: [], prompt: false, mesh: { fd: 9, children: [child(1)] } });
  assertEquals([...one.served], ["mesh:c1:p:0"]);
  assertEquals([one.spec.prompt, one.spec.mesh?.fd], [false, 9]);
  assertEquals(routeNarrows(none.spec, one.spec), false, "a new child widens");
  assertEquals(routeNarrows(one.spec, none.spec), true);
  const v6 = compileRoute({
    ...base,
    readers: [],
    prompt: false,
    mesh: { fd: 9, children: [child(1, "::1")] },
  });
  assertEquals(
    [v6.served.size, v6.spec.mesh, v6.spec.prompt],
    [0, null, true],
    "the main thread serves it, promptly",
  );
});
