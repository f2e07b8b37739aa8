import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { relayPod } from "../../tests/support/fake_kube.ts";
import type { Peer } from "./discovery.ts";
import { endpointsFromSlices, nodeZone, peersFromPods, type PodObject } from "./kube_peers.ts";

const SELF = { rtsp: 8554, admin: 8080, mesh: 7000 };

function peer(node: string, host: string, extra: Partial<Peer> = {}): Peer {
  return { node, zone: "", host, rtspPort: 8554, adminPort: 8080, meshPort: 7000, ready: true, ...extra };
}

Deno.test("peersFromPods() maps relay pods to peers, skipping pods without node or IP, sorted by node", () => {
  const pods = [
    relayPod({ name: "c", nodeName: "node-c", podIP: "10.0.0.3", ready: false }),
    relayPod({ name: "a", nodeName: "node-a", podIP: "10.0.0.1", ports: { rtsp: 9554, mesh: 7100 } }),
    relayPod({ name: "pending", podIP: "10.0.0.4" }),
    relayPod({ name: "no-ip", nodeName: "node-d" }),
  ] as PodObject[];
  const zones: Record<string, string> = { "node-a": "z1" };
  assertEquals(peersFromPods(pods, (n) => zones[n] ?? "", SELF), [
    peer("node-a", "10.0.0.1", { zone: "z1", rtspPort: 9554, meshPort: 7100 }),
    peer("node-c", "10.0.0.3", { ready: false }),
  ]);
});

Deno.test("peersFromPods() keeps one pod per node: the ready one, then the newest; deleting pods are not ready", () => {
  const old = relayPod({
    name: "old",
    nodeName: "n",
    podIP: "10.0.0.1",
    creationTimestamp: "2024-01-01T00:00:00Z",
  });
  const fresh = relayPod({
    name: "new",
    nodeName: "n",
    podIP: "10.0.0.2",
    creationTimestamp: "2024-01-02T00:00:00Z",
  });
  const freshNotReady = relayPod({
    name: "new",
    nodeName: "n",
    podIP: "10.0.0.2",
    ready: false,
    creationTimestamp: "2024-01-02T00:00:00Z",
  });
  const zone = () => "";
  assertEquals(peersFromPods([old, fresh] as PodObject[], zone, SELF), [peer("n", "10.0.0.2")]);
  assertEquals(peersFromPods([fresh, old] as PodObject[], zone, SELF), [peer("n", "10.0.0.2")]);
  assertEquals(peersFromPods([old, freshNotReady] as PodObject[], zone, SELF), [peer("n", "10.0.0.1")]);
  const deleting = structuredClone(fresh);
  deleting.metadata.deletionTimestamp = "2024-01-03T00:00:00Z";
  assertEquals(peersFromPods([deleting] as PodObject[], zone, SELF), [
    peer("n", "10.0.0.2", { ready: false }),
  ]);
  assertEquals(peersFromPods([old, deleting] as PodObject[], zone, SELF), [peer("n", "10.0.0.1")]);
});

Deno.test("endpointsFromSlices() keeps ready endpoints with their node and the slice's ports", () => {
  const slices = [
    {
      endpoints: [
        { addresses: ["10.1.0.9"], nodeName: "node-b", conditions: { ready: true } },
        { addresses: ["10.1.0.7"], nodeName: "node-a", conditions: { ready: false } },
        { addresses: ["10.1.0.5"], conditions: {} },
      ],
      ports: [{ name: "rtsp", port: 8554 }, { name: "bad" }],
    },
    { endpoints: [{ addresses: ["10.1.0.9"], nodeName: "node-b" }], ports: [{ name: "rtsp", port: 8554 }] },
  ];
  assertEquals(endpointsFromSlices(slices), [
    { address: "10.1.0.5", nodeName: undefined, ports: [{ name: "rtsp", port: 8554 }] },
    { address: "10.1.0.9", nodeName: "node-b", ports: [{ name: "rtsp", port: 8554 }] },
  ]);
  assertEquals(endpointsFromSlices([]), []);
});

Deno.test('nodeZone() reads the topology zone label, "" without it', () => {
  assertEquals(nodeZone({ metadata: { labels: { "topology.kubernetes.io/zone": "z1" } } }), "z1");
  assertEquals(nodeZone({ metadata: { labels: { zone: "z1" } } }), "");
  assertEquals(nodeZone({}), "");
});
