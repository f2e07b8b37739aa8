/**
 * Kubernetes API faults under a live mesh: relays discover each other through the (fake) API, a camera is rooted on
 * node-a and ffmpeg readers play on node-b and node-c. Then the API answers 500 to watches and lists for a while,
 * then goes away completely (connections refused). Readers keep decoding, every relay keeps its last view, a relay
 * pod deleted (its relay SIGKILLed) and one added during the outage are learned once the API is back, and the
 * relays say so in a few log lines, not one per retry.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startKubeCluster } from "./support/kube_cluster.ts";
import { nodeName } from "./support/mesh.ts";
import { delay } from "./support/processes.ts";
import { type ProgressReader, startProgressReader } from "./support/progress_reader.ts";
import type { RelayProcess } from "./support/relay.ts";
import { treeOf } from "./support/tree_scenario.ts";

interface PeerJson {
  node: string;
  live: boolean;
}

async function peerNodes(relay: RelayProcess): Promise<string[]> {
  const r = await relay.get<{ peers: PeerJson[] }>("/api/v1/peers");
  return r.body.peers.map((p) => p.node);
}

async function waitUntil(what: string, cond: () => Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await delay(100);
  }
  return Date.now() - start;
}

/** A JSON log line of a relay, or null. */
function parseLog(line: string): { level: string; component: string; msg: string } | null {
  if (!line.startsWith("{")) return null;
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

Deno.test("Kubernetes API 500s then an outage: readers keep playing, views stay, changes are learned after", async () => {
  // node-a..node-d have relay pods; node-e's relay runs but its pod only appears during the outage.
  const count = 5;
  await using env = await startKubeCluster({ count, zoneOf: () => "zone-1", fanout: 2, podsAtStart: 4 });
  const { kube, camera, cluster } = env;
  const { relays } = cluster;
  // Discovery log lines per relay, with the time they were seen.
  const logs = relays.map(() => [] as Array<{ t: number; level: string; msg: string }>);
  relays.forEach((r, i) =>
    r.process.onLine((line) => {
      const rec = parseLog(line);
      if (rec?.component.startsWith("relay.discovery")) logs[i]!.push({ t: Date.now(), ...rec });
    })
  );
  const readerIdx = [1, 2, 3];
  const readers = new Map<number, ProgressReader>();
  try {
    for (const i of readerIdx) {
      readers.set(i, startProgressReader(relays[i]!.url("cam"), "tcp", `reader-${i}`));
    }
    for (const r of readers.values()) await r.waitForFrames(25, 20_000);
    await delay(1500);
    const viewBefore = await peerNodes(relays[1]!);
    assertEquals(viewBefore, ["node-a", "node-b", "node-c", "node-d"]);
    const tree = await treeOf(relays[0]!, "cam");
    console.log(`tree before the faults: ${JSON.stringify(tree?.plan)}`);
    // The relay that dies in the outage: one in the middle of the tree when there is one.
    let victim = 3;
    for (const i of readerIdx) {
      if (((await treeOf(relays[i]!, "cam"))?.children.length ?? 0) > 0) victim = i;
    }
    const survivors = readerIdx.filter((i) => i !== victim);

    // Phase 1: every watch is cut and the next ones (then the relists a 410 forces) are answered 500.
    const t500 = Date.now();
    const frames500 = new Map([...readers].map(([i, r]) => [i, r.frames()]));
    kube.failNext(25, 500, { verb: "watch" });
    kube.failNext(25, 500, { verb: "list" });
    kube.expireHistory();
    kube.closeWatches();
    await delay(5000);
    const failed500 = kube.requests.filter((r) => r.time >= t500 && r.status === 500).length;
    console.log(`phase 1: ${failed500} requests answered 500 in 5 s`);
    assert(failed500 >= 10, `only ${failed500} requests failed: the fault did not bite`);
    for (const i of [0, 1, 2, 3]) {
      assertEquals(await peerNodes(relays[i]!), viewBefore, `${nodeName(i)} lost its view during the 500s`);
    }
    for (const [i, r] of readers) {
      const gap = r.longestGapMs(t500, Date.now());
      console.log(
        `phase 1 reader on ${nodeName(i)}: frames ${frames500.get(i)} -> ${r.frames()}, gap ${gap} ms`,
      );
      assert(r.frames() >= frames500.get(i)! + 100, `${nodeName(i)} stalled during the 500s`);
      assert(gap < 1000, `${nodeName(i)}: gap ${gap} ms during the 500s`);
    }

    // Phase 2: the API is gone (connections refused). Meanwhile the victim's relay dies and its pod is deleted,
    // and node-e's pod appears.
    await waitUntil("the API to answer again", () => Promise.resolve(kube.openWatches >= 10), 15_000);
    const tOut = Date.now();
    const framesOut = new Map([...readers].map(([i, r]) => [i, r.frames()]));
    const logMark = logs.map((l) => l.length);
    await kube.pause();
    await delay(2000);
    for (const i of [0, 1, 2, 3]) {
      assertEquals(await peerNodes(relays[i]!), viewBefore, `${nodeName(i)} lost its view in the outage`);
    }
    await relays[victim]!.stop("SIGKILL");
    console.log(`SIGKILL ${nodeName(victim)} in the outage`);
    readers.get(victim)!.stop().catch(() => {});
    readers.delete(victim);
    kube.deletePod(`msm-relay-${nodeName(victim)}`);
    kube.createPod(env.podOf(4));
    await delay(6000);
    const outageMs = Date.now() - tOut;
    for (const [i, r] of readers) {
      const gap = r.longestGapMs(tOut, Date.now());
      console.log(
        `outage reader on ${nodeName(i)}: frames ${framesOut.get(i)} -> ${r.frames()}, gap ${gap} ms`,
      );
      assert(r.frames() >= framesOut.get(i)! + 150, `${nodeName(i)} stalled during the outage`);
      assert(gap < 1000, `${nodeName(i)}: gap ${gap} ms during the outage`);
      const t = await treeOf(relays[i]!, "cam");
      assert(t?.parent && t.parent !== nodeName(victim), `${nodeName(i)} still under the dead relay`);
    }
    for (const i of [0, ...survivors]) {
      assertEquals(
        await peerNodes(relays[i]!),
        viewBefore,
        `${nodeName(i)} changed its view without the API`,
      );
    }
    // Logs: a handful of lines per relay for the whole outage (one per watched collection), not one per retry.
    for (const i of [0, ...survivors, 4]) {
      const lines = logs[i]!.slice(logMark[i]);
      console.log(`${nodeName(i)}: ${lines.length} discovery log lines in ${outageMs} ms of outage`);
      assert(lines.length >= 1, `${nodeName(i)} did not log the outage`);
      assert(lines.length <= 4, `${nodeName(i)} logged ${lines.length} lines:\n${JSON.stringify(lines)}`);
      assert(lines.some((l) => l.level === "warn"), `${nodeName(i)}: no warning about the outage`);
    }

    // The API comes back: every relay resyncs and learns node-d's removal and node-e's arrival.
    await kube.resume();
    const tBack = Date.now();
    const want = ["node-a", "node-b", "node-c", "node-d", "node-e"].filter((n) => n !== nodeName(victim));
    const resync = await Promise.all([0, ...survivors, 4].map((i) =>
      waitUntil(
        `${nodeName(i)} to learn the changes`,
        async () => JSON.stringify(await peerNodes(relays[i]!)) === JSON.stringify(want),
        15_000,
      )
    ));
    console.log(`views resynced ${resync.join(", ")} ms after the API came back`);
    for (const i of [0, ...survivors, 4]) {
      const back = logs[i]!.slice(logMark[i]).filter((l) => l.t >= tBack);
      assert(
        back.some((l) => /reachable again/.test(l.msg)),
        `${nodeName(i)} did not log the recovery: ${JSON.stringify(back)}`,
      );
    }
    // node-e can join the tree now, and the earlier readers never stopped.
    const readerE = startProgressReader(relays[4]!.url("cam"), "tcp", "reader-4");
    readers.set(4, readerE);
    await readerE.waitForFrames(25, 15_000);
    for (const i of survivors) {
      const r = readers.get(i)!;
      const gap = r.longestGapMs(t500, Date.now());
      console.log(`reader on ${nodeName(i)}: longest gap over the whole run ${gap} ms, ${r.frames()} frames`);
      assert(gap < 1000, `${nodeName(i)}: gap ${gap} ms`);
      assert(r.process.running, `reader on ${nodeName(i)} exited\n${r.process.output()}`);
    }
    assertEquals(camera.totalConnections(), 1, "only node-a pulled the camera, once");
  } finally {
    await Promise.all([...readers.values()].map((r) => r.stop()));
  }
});
