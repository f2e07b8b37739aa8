/**
 * The mesh with real peers: 6 relay processes on 127.0.0.x (same ports, two zones), a gst-rtsp-server camera on
 * relay A's address, ffmpeg readers on four other relays. The root sends at most k copies; SIGKILL of a relay in
 * the middle of the tree: the readers below it keep decoding, and the gap they saw is measured and printed.
 * Run with static discovery here; tests/mesh_kubernetes_test.ts runs the same through the fake API server.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  cachedTestClip,
  delay,
  ffmpegPublish,
  ffmpegRead,
  ffprobeCodecs,
  startGstCamera,
  waitPublishing,
} from "./support/processes.ts";
import { type RelayCluster, startRelayCluster } from "./support/mesh.ts";
import { type ProgressReader, startProgressReader } from "./support/progress_reader.ts";
import type { RelayProcess } from "./support/relay.ts";

/** Fan-out used by these tests (small, so 6 relays make a tree with a middle). */
export const FANOUT = 2;

interface TreeJson {
  role: string;
  root: string | null;
  parent: string | null;
  children: string[];
  plan?: Record<string, string>;
}

/** The tree view of `path` at a relay, or null. */
export async function treeOf(relay: RelayProcess, path: string): Promise<TreeJson | null> {
  const r = await relay.get<TreeJson>(`/api/v1/tree/${path}`);
  return r.status === 200 ? r.body : null;
}

/** Reads `msm_mesh_children{path="cam"}` from a relay's /metrics. */
export async function meshChildren(relay: RelayProcess, path: string): Promise<number> {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
  const text = await res.text();
  const m = text.match(new RegExp(`^msm_mesh_children\\{path="${path}"\\} (\\d+)`, "m"));
  return m ? Number(m[1]) : 0;
}

/**
 * The scenario shared by the static and kubernetes variants: camera on relay 0, readers on relays 1, 3, 4, 5,
 * checks, then SIGKILL of the relay that feeds the most readers below the root.
 */
export async function runTreeScenario(cluster: RelayCluster): Promise<void> {
  const { relays } = cluster;
  const readerIdx = [1, 3, 4, 5];
  const readers = new Map<number, ProgressReader>();
  try {
    for (const i of readerIdx) {
      readers.set(i, startProgressReader(relays[i]!.url("cam"), "tcp", `reader-${i}`));
    }
    for (const [i, r] of readers) {
      await r.waitForFrames(25, 20_000).catch((e) => {
        throw new Error(`reader on ${cluster.nodeName(i)}: ${e.message}`);
      });
    }
    // Let the tree settle (joins renew every second).
    await delay(2500);
    const rootTree = await treeOf(relays[0]!, "cam");
    assert(rootTree && rootTree.role === "root", `relay A should be the root: ${JSON.stringify(rootTree)}`);
    console.log(`tree: ${JSON.stringify(rootTree.plan)}`);
    const rootCopies = await meshChildren(relays[0]!, "cam");
    assert(rootCopies >= 1 && rootCopies <= FANOUT, `root sends ${rootCopies} copies (k=${FANOUT})`);
    for (const i of readerIdx) {
      const t = await treeOf(relays[i]!, "cam");
      assert(t?.parent, `${cluster.nodeName(i)} has no parent: ${JSON.stringify(t)}`);
      assert(t.children.length <= FANOUT, `${cluster.nodeName(i)} feeds ${t.children.length}`);
    }
    // At most one copy enters zone-2 (relays 3, 4, 5): exactly one of them has a parent outside the zone.
    const zone2 = [3, 4, 5];
    const parents = await Promise.all(zone2.map(async (i) => (await treeOf(relays[i]!, "cam"))!.parent!));
    const zone2Names = new Set(zone2.map(cluster.nodeName));
    assertEquals(parents.filter((p) => !zone2Names.has(p)).length, 1, `zone-2 parents: ${parents}`);

    // The victim: a non-root relay with children.
    let victim = -1;
    for (const i of readerIdx) {
      if (((await treeOf(relays[i]!, "cam"))?.children.length ?? 0) > 0) {
        victim = i;
        break;
      }
    }
    assert(victim > 0, "no relay in the middle of the tree");
    const orphans = (await treeOf(relays[victim]!, "cam"))!.children;
    const orphanIdx = orphans.map((n) => n.charCodeAt(5) - 97);
    const before = new Map(orphanIdx.map((i) => [i, readers.get(i)!.frames()]));
    const killedAt = Date.now();
    await relays[victim]!.stop("SIGKILL");
    console.log(`SIGKILL ${cluster.nodeName(victim)}, which fed ${orphans.join(", ")}`);
    await delay(4000);
    for (const i of orphanIdx) {
      const r = readers.get(i)!;
      const gap = r.longestGapMs(killedAt - 500, Date.now());
      console.log(
        `reader on ${cluster.nodeName(i)}: longest gap ${gap} ms around the kill; frames ${
          before.get(i)
        } -> ${r.frames()}`,
      );
      assert(r.frames() >= before.get(i)! + 50, `${cluster.nodeName(i)} stopped decoding`);
      assert(gap < 1000, `${cluster.nodeName(i)}: media gap ${gap} ms >= 1 s`);
      const t = await treeOf(relays[i]!, "cam");
      assert(
        t?.parent && t.parent !== cluster.nodeName(victim),
        `${cluster.nodeName(i)} still under the victim`,
      );
    }
    for (const [i, r] of readers) {
      if (i !== victim) {
        assert(r.process.running, `reader on ${cluster.nodeName(i)} exited\n${r.process.output()}`);
      }
    }
  } finally {
    await Promise.all([...readers.values()].map((r) => r.stop()));
  }
}

Deno.test("mesh with static discovery: 6 relays, 2 zones, camera on A, readers elsewhere, SIGKILL mid-tree", async () => {
  const first = 20 + Math.floor(Math.random() * 180);
  const cameraHost = `127.0.0.${first}`;
  await using camera = await startGstCamera({ host: cameraHost, fps: 25 });
  await using cluster = await startRelayCluster({
    count: 6,
    firstOctet: first,
    zoneOf: (i) => (i < 3 ? "zone-1" : "zone-2"),
    discovery: "static",
    fanout: FANOUT,
    // TCP: on one machine the relay's TCP connection to the camera leaves from 127.0.0.1, not from its own
    // 127.0.0.x address, so the camera would send UDP to the wrong address (auto mode falls back after 3 s).
    argsOf: () => ["--path", `cam=${camera.url}`, "--pull-transport", "tcp"],
  });
  await runTreeScenario(cluster);
  assertEquals(camera.totalConnections(), 1, "the camera is pulled once, by its own node's relay");
});

Deno.test("mesh: a stream published to one relay is read on another; unknown paths get 404 quickly", async () => {
  await using cluster = await startRelayCluster({
    count: 3,
    zoneOf: () => "zone-1",
    discovery: "static",
    fanout: FANOUT,
  });
  const [a, b, c] = cluster.relays as [RelayProcess, RelayProcess, RelayProcess];
  await using publisher = ffmpegPublish(await cachedTestClip(60), b.url("live/pub"), "tcp");
  await waitPublishing(publisher, 15_000);
  for (const reader of [a, c]) {
    const r = await ffmpegRead(reader.url("live/pub"), { transport: "tcp", seconds: 3 });
    assert(r.frames >= 0.9 * 75, `reader on ${reader.host}: ${r.frames} frames\n${r.stderr}`);
  }
  const rootTree = await treeOf(b, "live/pub");
  assertEquals(rootTree?.role, "root");
  const t0 = Date.now();
  const missing = await ffprobeCodecs(c.url("nothing/here"), "tcp").catch((e: Error) => e.message);
  assert(typeof missing === "string" && /404/.test(missing), `expected 404: ${missing}`);
  console.log(`unknown path refused in ${Date.now() - t0} ms`);
});
