/**
 * The mesh through the (fake) Kubernetes API: 6 relays started with the environment a DaemonSet gives them
 * (KUBERNETES_SERVICE_HOST/PORT, a service-account folder, POD_NAMESPACE, NODE_NAME, HOST_IP) discover each other
 * by list+watch of their pods, take zones from their Nodes, and find the camera's node from its Service's
 * EndpointSlice. Same tree scenario as the static test (SIGKILL mid-tree), then a watch expiry (410) mid-run.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startKubeCluster } from "./support/kube_cluster.ts";
import { delay } from "./support/processes.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import { FANOUT, runTreeScenario, treeOf } from "./support/tree_scenario.ts";

function kubeCluster(count: number) {
  return startKubeCluster({ count, zoneOf: (i) => (i < 3 ? "zone-1" : "zone-2"), fanout: FANOUT });
}

Deno.test("mesh through the Kubernetes API: discovery, zones from Nodes, root from EndpointSlice, SIGKILL", async () => {
  await using env = await kubeCluster(6);
  const peers = await env.cluster.relays[2]!.get<
    { peers: Array<{ node: string; zone: string; live: boolean }> }
  >(
    "/api/v1/peers",
  );
  assertEquals(peers.body.peers.map((p) => [p.node, p.zone, p.live]), [
    ["node-a", "zone-1", true],
    ["node-b", "zone-1", true],
    ["node-c", "zone-1", true],
    ["node-d", "zone-2", true],
    ["node-e", "zone-2", true],
    ["node-f", "zone-2", true],
  ]);
  await runTreeScenario(env.cluster);
  assertEquals(env.camera.totalConnections(), 1, "only node-a's relay pulls the camera");
});

Deno.test("mesh through the Kubernetes API: a watch expiry (410) mid-run relists and keeps the mesh intact", async () => {
  await using env = await kubeCluster(4);
  const { relays } = env.cluster;
  const readers = [1, 2, 3].map((i) => startProgressReader(relays[i]!.url("cam"), "tcp", `reader-${i}`));
  try {
    for (const r of readers) await r.waitForFrames(25, 20_000);
    await delay(1500);
    const before = await Promise.all([1, 2, 3].map(async (i) => (await treeOf(relays[i]!, "cam"))?.parent));
    const listsBefore = env.kube.count("list", "pods");
    const frames = readers.map((r) => r.frames());
    const t0 = Date.now();
    env.kube.expireHistory();
    env.kube.closeWatches();
    // Every relay resumes its watch from a resourceVersion that is now too old: 410, then a relist.
    const deadline = Date.now() + 10_000;
    while (env.kube.count("list", "pods") < listsBefore + relays.length && Date.now() < deadline) {
      await delay(100);
    }
    const relists = env.kube.count("list", "pods") - listsBefore;
    console.log(`pod relists after the expiry: ${relists} (relays: ${relays.length})`);
    assert(relists >= relays.length, `only ${relists} relists`);
    await delay(2000);
    const after = await Promise.all([1, 2, 3].map(async (i) => (await treeOf(relays[i]!, "cam"))?.parent));
    assertEquals(after, before, "the tree did not move");
    readers.forEach((r, i) => {
      const gap = r.longestGapMs(t0, Date.now());
      console.log(`reader ${i + 1}: frames ${frames[i]} -> ${r.frames()}, longest gap ${gap} ms`);
      assert(r.frames() >= frames[i]! + 40, "reader stalled during the relist");
      assert(gap < 500, `gap ${gap} ms during a relist`);
    });
    // The view stays complete: every relay still sees every peer live.
    const peers = await relays[0]!.get<{ peers: Array<{ live: boolean }> }>("/api/v1/peers");
    assertEquals(peers.body.peers.filter((p) => p.live).length, relays.length);
  } finally {
    await Promise.all(readers.map((r) => r.stop()));
  }
});
