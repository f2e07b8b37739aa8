import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { MESH_DEST_SIZE, meshRouteNarrows, packMeshChildren, type PlaneMeshChild } from "./mesh_route.ts";
import { compileRoute, Route, routeNarrows } from "./route.ts";
import { writeRtpHeader } from "../rtp/packet.ts";

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

Deno.test("Route stops forwarding at a jump of the input numbering until an update built after it applies", () => {
  const route = new Route();
  const { spec } = compileRoute({
    source: { host: "127.0.0.1", port: 5000 },
    map: { ssrc: 0xa, seqDelta: 10, tsDelta: 0, outSsrc: 0xb },
    readers: [{ id: "r", host: "127.0.0.1", port: 6000 }],
    prompt: false,
  });
  assertEquals(route.apply(spec, 0, false), true);
  const ip = 0x7f000001;
  const packet = (seq: number) => {
    const p = new Uint8Array(20);
    writeRtpHeader(p, 0, { marker: false, payloadType: 96, sequence: seq, timestamp: 0, ssrc: 0xa });
    return p;
  };
  const forwards = (seq: number) => route.forwards(packet(seq), 0, 20, ip, 5000);
  assertEquals([forwards(100), forwards(101), forwards(99), forwards(3000)], [true, true, true, true]);
  // A restart of the numbering: the track re-bases (a new map); the old one must not number these.
  assertEquals([forwards(0), forwards(1)], [false, false]);
  assertEquals(route.apply(spec, 0, true), true, "a narrowing update");
  assertEquals(forwards(2), false, "was built before the main thread saw the jump");
  assertEquals(route.apply(spec, route.posted, false), true);
  assertEquals([forwards(3), forwards(4)], [true, true]);
});
