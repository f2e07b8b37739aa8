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
import { startRelayCluster } from "./support/mesh.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import type { RelayProcess } from "./support/relay.ts";
import { FANOUT, runTreeScenario, treeOf } from "./support/tree_scenario.ts";

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
  // The readers are gone: every relay leaves the tree, the root drops it and closes the camera session.
  const t0 = Date.now();
  await camera.waitForConnections((n) => n === 0, 15_000);
  console.log(`tree torn down and camera released ${Date.now() - t0} ms after the last reader left`);
  for (const [i, relay] of cluster.relays.entries()) {
    if (!relay.process.running) continue; // the one the scenario killed
    assertEquals(await treeOf(relay, "cam"), null, `${cluster.nodeName(i)} still in the tree`);
  }
});

Deno.test("mesh: SIGTERM of a mid-tree relay drains make-before-break: every child moved before it leaves, none detects silence, exit 0", async () => {
  const first = 20 + Math.floor(Math.random() * 180);
  await using camera = await startGstCamera({ host: `127.0.0.${first}`, fps: 25 });
  await using cluster = await startRelayCluster({
    count: 6,
    firstOctet: first,
    zoneOf: (i) => (i < 3 ? "zone-1" : "zone-2"),
    discovery: "static",
    fanout: FANOUT,
    argsOf: () => ["--path", `cam=${camera.url}`, "--pull-transport", "tcp"],
  });
  const { gapsMs, victim, orphans } = await runTreeScenario(cluster, "SIGTERM");
  console.log(`SIGTERM: worst reader gap ${Math.max(...gapsMs)} ms (SIGKILL detection alone takes 600 ms)`);
  // Make-before-break, shown by what the relays did rather than by a time a busy machine can stretch: the victim
  // moved every child before it left, and no child had to detect a silent parent.
  const drained = logRecords(cluster.relays[victim]!.process.stderrLines).find((r) =>
    r.msg === "mesh drained"
  );
  assert(drained, `${cluster.nodeName(victim)} logged no "mesh drained"`);
  assertEquals(
    { moved: drained.moved, remaining: drained.remaining },
    { moved: orphans.length, remaining: 0 },
    "the drain moved every child before the relay left",
  );
  for (const i of orphans) {
    const silent = logRecords(cluster.relays[i]!.process.stderrLines).filter((r) =>
      r.msg === "mesh parent silent, re-parenting" && r.parent === cluster.nodeName(victim)
    );
    assertEquals(silent.length, 0, `${cluster.nodeName(i)} detected its drained parent as silent`);
  }
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

Deno.test("mesh: the root of an outside camera dies; another relay takes over the pull, readers keep sessions", async () => {
  // The camera is on 127.0.0.1, no relay's address: its root is chosen by rendezvous hash among live relays.
  await using camera = await startGstCamera({ fps: 25 });
  await using cluster = await startRelayCluster({
    count: 4,
    zoneOf: () => "zone-1",
    discovery: "static",
    fanout: FANOUT,
    argsOf: () => ["--path", `cam=${camera.url}`, "--pull-transport", "tcp"],
  });
  const readers = cluster.relays.map((r, i) => startProgressReader(r.url("cam"), "tcp", `reader-${i}`));
  try {
    for (const r of readers) await r.waitForFrames(25, 20_000);
    let root = -1;
    for (const [i, relay] of cluster.relays.entries()) {
      if ((await treeOf(relay, "cam"))?.role === "root") root = i;
    }
    assert(root >= 0, "no root");
    const before = readers.map((r) => r.frames());
    const killedAt = Date.now();
    await cluster.relays[root]!.stop("SIGKILL");
    await delay(6000);
    let newRoot = -1;
    for (const [i, relay] of cluster.relays.entries()) {
      if (i !== root && (await treeOf(relay, "cam"))?.role === "root") newRoot = i;
    }
    console.log(
      `root ${cluster.nodeName(root)} killed; new root ${newRoot >= 0 ? cluster.nodeName(newRoot) : "none"}`,
    );
    assert(newRoot >= 0, "no relay took over");
    for (const [i, r] of readers.entries()) {
      if (i === root) continue;
      const gap = r.longestGapMs(killedAt - 500, Date.now());
      console.log(
        `reader on ${cluster.nodeName(i)}: frames ${before[i]} -> ${r.frames()}, longest gap ${gap} ms`,
      );
      assert(r.process.running, `reader on ${cluster.nodeName(i)} lost its session\n${r.process.output()}`);
      assert(r.frames() >= before[i]! + 50, `reader on ${cluster.nodeName(i)} did not resume`);
      assert(gap < 4000, `gap ${gap} ms`);
    }
    assertEquals(camera.totalConnections(), 2, "the camera was pulled by the old root, then by the new one");
  } finally {
    await Promise.all(readers.map((r) => r.stop()));
  }
});

/** The JSON log records among a relay's output lines. */
function logRecords(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.flatMap((line) => {
    try {
      const record = JSON.parse(line);
      return record && typeof record === "object" ? [record as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}
