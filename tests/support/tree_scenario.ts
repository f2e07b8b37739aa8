/**
 * The tree scenario shared by the static and Kubernetes mesh tests, and small readers of a relay's tree view.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { delay } from "./processes.ts";
import type { RelayCluster } from "./mesh.ts";
import { type ProgressReader, startProgressReader } from "./progress_reader.ts";
import type { RelayProcess } from "./relay.ts";

/** Fan-out used by these tests (small, so 6 relays make a tree with a middle). */
export const FANOUT = 2;

/** A relay's view of one tree. */
export interface TreeJson {
  role: string;
  root: string | null;
  parent: string | null;
  children: string[];
  plan?: Record<string, string>;
  /** Times a member changed parents (members only). */
  reparents?: number;
  /** Packets a member received twice (members only). */
  duplicates?: number;
}

/** The tree view of `path` at a relay, or null. */
export async function treeOf(relay: RelayProcess, path: string): Promise<TreeJson | null> {
  const r = await relay.get<TreeJson>(`/api/v1/tree/${path}`);
  return r.status === 200 ? r.body : null;
}

/** Indices of the running relays of `cluster` whose tree view of `path` says they are its root. */
export async function rootsOf(cluster: RelayCluster, path: string): Promise<number[]> {
  const roots: number[] = [];
  for (const [i, relay] of cluster.relays.entries()) {
    if (relay.process.running && (await treeOf(relay, path))?.role === "root") roots.push(i);
  }
  return roots;
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
export async function runTreeScenario(
  cluster: RelayCluster,
  signal: "SIGKILL" | "SIGTERM" = "SIGKILL",
): Promise<{ gapsMs: number[]; victim: number; orphans: number[] }> {
  const gapsMs: number[] = [];
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
    const status = await relays[victim]!.stop(signal);
    console.log(
      `${signal} ${cluster.nodeName(victim)}, which fed ${orphans.join(", ")}: exited ${status.code} after ` +
        `${Date.now() - killedAt} ms`,
    );
    if (signal === "SIGTERM") {
      assertEquals(status.code, 0, "a drained relay exits 0");
      assert(Date.now() - killedAt < 12_000, "drain exceeded the grace period");
    }
    await delay(4000);
    for (const i of orphanIdx) {
      const r = readers.get(i)!;
      const gap = r.longestGapMs(killedAt - 500, Date.now());
      console.log(
        `reader on ${cluster.nodeName(i)}: longest gap ${gap} ms around the kill; frames ${
          before.get(i)
        } -> ${r.frames()}`,
      );
      gapsMs.push(gap);
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
    return { gapsMs, victim, orphans: orphanIdx };
  } finally {
    await Promise.all([...readers.values()].map((r) => r.stop()));
  }
}
