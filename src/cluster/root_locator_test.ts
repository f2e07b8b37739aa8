/**
 * Tests of root location: Service endpoints, relay addresses, rendezvous hashing and its stability.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { ServiceEndpoint } from "./discovery.ts";
import { directPullUrl, locateRoot, rendezvous, serviceOf } from "./root_locator.ts";
import { testPeer } from "../../tests/support/peer_fixture.ts";

const peer = testPeer;
const live = [peer("a", "10.0.0.1"), peer("b", "10.0.0.2"), peer("c", "10.0.0.3")];
const noKube = () => null;

Deno.test("locateRoot picks the node of a Service's ready endpoint", () => {
  const endpoints: ServiceEndpoint[] = [{
    address: "10.1.0.9",
    nodeName: "b",
    ports: [{ name: "rtsp", port: 554 }],
  }];
  for (const host of ["cam.video.svc", "cam.video.svc.cluster.local"]) {
    const r = locateRoot({
      path: "cam",
      url: `rtsp://u:p@${host}:554/live`,
      live,
      serviceEndpoints: (ns, name) => (ns === "video" && name === "cam" ? endpoints : []),
    });
    assertEquals(r, { kind: "root", node: "b", rule: "service" });
  }
});

Deno.test("locateRoot waits while the Service has no endpoint on a live relay's node", () => {
  const r = locateRoot({
    path: "cam",
    url: "rtsp://cam.video.svc/live",
    live,
    serviceEndpoints: () => [{ address: "10.1.0.9", nodeName: "gone", ports: [] }],
  });
  assertEquals(r.kind, "pending");
});

Deno.test("locateRoot picks the relay whose address the camera URL names", () => {
  assertEquals(locateRoot({ path: "x", url: "rtsp://10.0.0.3:8554/cam", live, serviceEndpoints: noKube }), {
    kind: "root",
    node: "c",
    rule: "host",
  });
});

Deno.test("locateRoot hashes external cameras over live relays, stable when another relay leaves", () => {
  const r = locateRoot({
    path: "lobby",
    url: "rtsp://camera.example/stream",
    live,
    serviceEndpoints: noKube,
  });
  assert(r.kind === "root" && r.rule === "hash");
  const others = live.filter((p) => p.node !== r.node);
  const without = locateRoot({
    path: "lobby",
    url: "rtsp://camera.example/stream",
    live: live.filter((p) => p.node !== others[0]!.node),
    serviceEndpoints: noKube,
  });
  assertEquals(without.kind === "root" && without.node, r.node);
  assertEquals(locateRoot({ path: "x", url: "rtsp://h/x", live: [], serviceEndpoints: noKube }).kind, "none");
});

Deno.test("rendezvous spreads paths over nodes and moves only the paths of a removed node", () => {
  const nodes = Array.from({ length: 10 }, (_, i) => `node-${i}`);
  const paths = Array.from({ length: 2000 }, (_, i) => `cam${i}`);
  const counts = new Map<string, number>();
  const before = new Map(paths.map((p) => [p, rendezvous(p, nodes)!]));
  for (const n of before.values()) counts.set(n, (counts.get(n) ?? 0) + 1);
  for (const n of nodes) assert((counts.get(n) ?? 0) > 100, `uneven: ${JSON.stringify([...counts])}`);
  const after = nodes.filter((n) => n !== "node-3");
  for (const p of paths) {
    const was = before.get(p)!;
    if (was !== "node-3") assertEquals(rendezvous(p, after), was);
  }
});

Deno.test("directPullUrl sends the root straight to the camera pod on its node", () => {
  const endpoints: ServiceEndpoint[] = [
    { address: "10.1.0.8", nodeName: "a", ports: [{ name: "rtsp", port: 8554 }] },
    { address: "10.1.0.9", nodeName: "b", ports: [{ name: "rtsp", port: 8554 }] },
  ];
  assertEquals(
    directPullUrl("rtsp://u:p@cam.video.svc:554/live?x=1", "b", endpoints),
    "rtsp://u:p@10.1.0.9:8554/live?x=1",
  );
  assertEquals(directPullUrl("rtsp://10.0.0.3/cam", "b", endpoints), "rtsp://10.0.0.3/cam");
  assertEquals(directPullUrl("rtsp://cam.video.svc/live", "b", null), "rtsp://cam.video.svc/live");
  assertEquals(serviceOf("rtsp://cam.video.svc.cluster.local:554/x"), { namespace: "video", name: "cam" });
  assertEquals(serviceOf("rtsp://camera.example/x"), null);
});

Deno.test("locateRoot chooses only among relays configured with the path", () => {
  const url = "rtsp://camera.example/stream";
  const all = locateRoot({ path: "lobby", url, live, serviceEndpoints: noKube });
  for (const node of ["a", "b", "c"]) {
    const only = locateRoot({
      path: "lobby",
      url,
      live,
      serviceEndpoints: noKube,
      configured: new Set([node]),
    });
    assertEquals(only, { kind: "root", node, rule: "hash" }, `configured on ${node} only`);
  }
  // Configured everywhere: the same answer as without the filter.
  assertEquals(
    locateRoot({ path: "lobby", url, live, serviceEndpoints: noKube, configured: new Set(["a", "b", "c"]) }),
    all,
  );
  // The host rule and the Service rule keep to configured relays too.
  assertEquals(
    locateRoot({
      path: "x",
      url: "rtsp://10.0.0.3/cam",
      live,
      serviceEndpoints: noKube,
      configured: new Set(["a"]),
    }),
    { kind: "root", node: "a", rule: "hash" },
  );
  const endpoints = () => [{ address: "10.1.0.9", nodeName: "b", ports: [] }];
  assertEquals(
    locateRoot({
      path: "s",
      url: "rtsp://cam.video.svc/x",
      live,
      serviceEndpoints: endpoints,
      configured: new Set(["c"]),
    }),
    { kind: "root", node: "c", rule: "hash" },
    "the camera's node has a relay without the path: a configured relay pulls it through the Service",
  );
  assertEquals(
    locateRoot({ path: "x", url, live, serviceEndpoints: noKube, configured: new Set(["gone"]) }).kind,
    "none",
  );
});
