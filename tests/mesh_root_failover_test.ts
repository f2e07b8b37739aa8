/**
 * Issue 14 with real peers: six relay processes on 127.0.0.x (two zones, fan-out 2), a GStreamer camera outside
 * the mesh (127.0.0.1, no relay's address, so its root is the rendezvous hash's choice among the relays configured
 * with it), and three readers on relays other than the root: ffmpeg over TCP, ffmpeg over UDP, GStreamer rtspsrc.
 * Each reader is measured over one wall-clock window during which a relay is SIGKILLed:
 * - the root, with every relay configured with the camera (static discovery, then the fake Kubernetes API with
 *   the dead relay's Pod still listed or deleted): a new root pulls the camera and the readers decode on, whether
 *   they are on relays that only change parents or on the relay that becomes the root;
 * - a mid-tree relay, with the camera configured on relay A only: the readers on the other relays are served at
 *   all, and those below the dead relay decode on.
 * Every surviving reader must decode >= 80 % of the window's frames (camera fps x window), run to the window's
 * end, and see no gap of 1 s plus one GOP or more. Each test prints what it measured.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { rendezvous } from "../src/cluster/root_locator.ts";
import { startKubeCluster } from "./support/kube_cluster.ts";
import { type RelayCluster, startRelayCluster } from "./support/mesh.ts";
import { delay, type GstCamera, startGstCamera } from "./support/processes.ts";
import {
  type ProgressReader,
  startGstProgressReader,
  startProgressReader,
} from "./support/progress_reader.ts";
import { FANOUT, rootsOf, treeOf } from "./support/tree_scenario.ts";

const RELAYS = 6;
const FPS = 25;
/** Keyframe interval of the camera, in frames (one second). */
const GOP = 25;
/** The readers' measured window, and when in it the relay dies. */
const WINDOW_MS = 14_000;
const KILL_AT_MS = 5_000;
/** The issue's bounds: frames of the window, and the longest media gap (1 s plus one GOP). */
const MIN_FRAMES = Math.ceil(0.8 * FPS * WINDOW_MS / 1000);
const MAX_GAP_MS = 1000 + GOP * 1000 / FPS;
/**
 * The camera: its video numbering starts at the same sequence number in every session, so the new root's session
 * is numbered behind what the old root sent. A random start (RFC 3550's advice) does that half the time; a fixed
 * one every time, so the test does not depend on a coin.
 */
const CAMERA = { fps: FPS, gop: GOP, seqnumOffset: 1000 } as const;

const zoneOf = (i: number) => (i < 3 ? "zone-1" : "zone-2");

type ReaderKind = "ffmpeg/tcp" | "ffmpeg/udp" | "gst/tcp";
const KINDS: readonly ReaderKind[] = ["ffmpeg/tcp", "ffmpeg/udp", "gst/tcp"];

interface PlacedReader {
  relay: number;
  kind: ReaderKind;
  reader: ProgressReader;
}

/** One reader of each kind, on `relayIdx[0..2]`. */
function startReaders(cluster: RelayCluster, relayIdx: readonly number[]): PlacedReader[] {
  return relayIdx.map((relay, k) => {
    const kind = KINDS[k]!;
    const url = cluster.relays[relay]!.url("cam");
    const name = `${kind}@${cluster.nodeName(relay)}`;
    const reader = kind === "gst/tcp"
      ? startGstProgressReader(url, "tcp", name)
      : startProgressReader(url, kind === "ffmpeg/udp" ? "udp" : "tcp", name);
    return { relay, kind, reader };
  });
}

/** Waits until every reader decodes (generously: six relays and their readers share two cores). */
async function waitServed(cluster: RelayCluster, readers: readonly PlacedReader[]): Promise<void> {
  await Promise.all(
    readers.map(({ relay, kind, reader }) =>
      reader.waitForFrames(FPS, 30_000).catch((e: Error) => {
        throw new Error(`${kind} reader on ${cluster.nodeName(relay)} was not served: ${e.message}`);
      })
    ),
  );
  // Let the tree settle (joins renew every second) before the window opens.
  await delay(1500);
}

/**
 * Runs the measured window: `kill` at {@linkcode KILL_AT_MS}, then up to the window's end.
 * @returns the window's bounds (Date.now() values)
 */
async function runWindow(kill: () => Promise<void>): Promise<{ from: number; to: number }> {
  const from = Date.now();
  await delay(KILL_AT_MS);
  await kill();
  await delay(Math.max(0, from + WINDOW_MS - Date.now()));
  return { from, to: from + WINDOW_MS };
}

/**
 * Prints what every reader not on `dead` measured in `window`, then asserts the issue's bounds on each: it ran to
 * the end, decoded >= {@linkcode MIN_FRAMES} frames, and its longest gap was < {@linkcode MAX_GAP_MS}.
 */
function checkReaders(
  cluster: RelayCluster,
  readers: readonly PlacedReader[],
  dead: number,
  window: { from: number; to: number },
): void {
  const failures: string[] = [];
  for (const { relay, kind, reader } of readers) {
    const where = `${kind} reader on ${cluster.nodeName(relay)}`;
    if (relay === dead) {
      console.log(`${where}: on the dead relay, not measured`);
      continue;
    }
    const frames = reader.framesBetween(window.from, window.to);
    const gap = reader.longestGapMs(window.from, window.to);
    const running = reader.process.running;
    console.log(
      `${where}: ${frames} of ${FPS * WINDOW_MS / 1000} frames in the window, longest gap ${gap} ms` +
        `${running ? "" : ", EXITED early"}`,
    );
    if (!running) failures.push(`${where} stopped early\n${reader.process.output(20)}`);
    if (frames < MIN_FRAMES) failures.push(`${where}: ${frames} frames < ${MIN_FRAMES}`);
    if (gap >= MAX_GAP_MS) failures.push(`${where}: gap ${gap} ms >= ${MAX_GAP_MS} ms (1 s + one GOP)`);
  }
  assert(failures.length === 0, failures.join("\n"));
}

/** What the reader relays say about their place in the tree (parent, re-parents, duplicates). */
async function printMembers(cluster: RelayCluster, readers: readonly PlacedReader[]): Promise<void> {
  for (const { relay } of readers) {
    if (!cluster.relays[relay]!.process.running) continue;
    const t = await treeOf(cluster.relays[relay]!, "cam");
    console.log(
      `${cluster.nodeName(relay)}: ${
        t
          ? `role ${t.role}, root ${t.root}, parent ${t.parent}, reparents ${t.reparents}, duplicates ${t.duplicates}`
          : "not in the tree"
      }`,
    );
  }
}

/** Where {@linkcode rootDeath} puts its readers, given the root the hash picks and the one it picks after. */
type Placement = (root: number, successor: number) => number[];

/** A reader on the relay that becomes the root (it turns from member into root under it), two in the other zone. */
const withSuccessor: Placement = (root, successor) =>
  [successor, ...[3, 4, 5, 0, 1, 2].filter((i) => zoneOf(i) !== zoneOf(root) && i !== successor)].slice(0, 3);

/** Readers on neither root, zone-2 first. */
const awayFromRoots: Placement = (root, successor) =>
  [3, 4, 5, 0, 1, 2].filter((i) => i !== root && i !== successor).slice(0, 3);

/**
 * Every relay configured with the camera: readers on three relays that are not the root (`placement`), SIGKILL of
 * the root (then `afterKill`, e.g. its Pod deleted) mid-window.
 */
async function rootDeath(
  cluster: RelayCluster,
  camera: GstCamera,
  placement: Placement,
  afterKill: (root: number) => void = () => {},
): Promise<void> {
  // The camera is no relay's: the hash picks its root among the live relays configured with it, here all.
  const nodes = cluster.relays.map((_, i) => cluster.nodeName(i));
  const predicted = nodes.indexOf(rendezvous("cam", nodes)!);
  const successor = nodes.indexOf(rendezvous("cam", nodes.filter((_, i) => i !== predicted))!);
  const readerIdx = placement(predicted, successor);
  const readers = startReaders(cluster, readerIdx);
  try {
    await waitServed(cluster, readers);
    const before = await rootsOf(cluster, "cam");
    assert(before.length === 1, `roots before the kill: ${before.map(cluster.nodeName)}`);
    const root = before[0]!;
    assert(
      !readerIdx.includes(root),
      `the root ${cluster.nodeName(root)} has a reader (the hash said ${cluster.nodeName(predicted)})`,
    );
    console.log(
      `root before: ${cluster.nodeName(root)}; readers on ${readerIdx.map(cluster.nodeName).join(", ")}; ` +
        `tree ${JSON.stringify((await treeOf(cluster.relays[root]!, "cam"))?.plan)}`,
    );
    const window = await runWindow(async () => {
      await cluster.relays[root]!.stop("SIGKILL");
      afterKill(root);
      console.log(`SIGKILL ${cluster.nodeName(root)} (the root) at ${KILL_AT_MS} ms into the window`);
    });
    const after = await rootsOf(cluster, "cam");
    console.log(
      `root after: ${after.map(cluster.nodeName).join(", ") || "none"} (the hash's next choice: ` +
        `${
          cluster.nodeName(successor)
        }); camera sessions opened ${camera.totalConnections()}, its pipeline ` +
        `built ${camera.mediaConfigured()} times`,
    );
    await printMembers(cluster, readers);
    checkReaders(cluster, readers, root, window);
    assert(after.length === 1 && after[0] !== root, `roots after the kill: ${after.map(cluster.nodeName)}`);
  } finally {
    await Promise.all(readers.map(({ reader }) => reader.stop()));
  }
}

Deno.test("root failover, static discovery: every relay has the camera, SIGKILL of the root, readers on others decode on", async () => {
  await using camera = await startGstCamera(CAMERA);
  await using cluster = await startRelayCluster({
    count: RELAYS,
    zoneOf,
    discovery: "static",
    fanout: FANOUT,
    // TCP: on one machine the relay's connection to the camera leaves from 127.0.0.1, not its own address.
    argsOf: () => ["--path", `cam=${camera.url}`, "--pull-transport", "tcp"],
  });
  await rootDeath(cluster, camera, awayFromRoots);
});

Deno.test("root failover, Kubernetes discovery: SIGKILL of the root, Pod still listed, a reader on the next root too", async () => {
  // The relay dies and the API does not know yet (a node lost, not drained): the relays find out by themselves.
  await using env = await startKubeCluster({
    count: RELAYS,
    zoneOf,
    fanout: FANOUT,
    outsideCamera: true,
    camera: CAMERA,
  });
  await rootDeath(env.cluster, env.camera, withSuccessor);
});

Deno.test("root failover, Kubernetes discovery: SIGKILL of the root and its Pod deleted, readers decode on", async () => {
  await using env = await startKubeCluster({
    count: RELAYS,
    zoneOf,
    fanout: FANOUT,
    outsideCamera: true,
    camera: CAMERA,
  });
  await rootDeath(env.cluster, env.camera, awayFromRoots, (root) => {
    assert(env.kube.deletePod(env.podOf(root).name), "no Pod to delete");
  });
});

Deno.test("camera on relay A only: readers on other relays are served and survive a mid-tree SIGKILL", async () => {
  await using camera = await startGstCamera(CAMERA);
  await using cluster = await startRelayCluster({
    count: RELAYS,
    zoneOf,
    discovery: "static",
    fanout: FANOUT,
    argsOf: (i) => (i === 0 ? ["--path", `cam=${camera.url}`, "--pull-transport", "tcp"] : []),
  });
  // B in A's zone, D and E in the other: with fan-out 2 one of the readers' relays feeds another.
  const readerIdx = [1, 3, 4];
  const readers = startReaders(cluster, readerIdx);
  try {
    await waitServed(cluster, readers);
    const roots = await rootsOf(cluster, "cam");
    const rootTree = await treeOf(cluster.relays[0]!, "cam");
    console.log(`root: ${roots.map(cluster.nodeName)}; tree ${JSON.stringify(rootTree?.plan)}`);
    assert(roots.length === 1 && roots[0] === 0, "the only relay configured with the camera is its root");
    let victim = -1;
    for (const i of readerIdx) {
      if (((await treeOf(cluster.relays[i]!, "cam"))?.children.length ?? 0) > 0) victim = i;
    }
    assert(victim > 0, "no relay in the middle of the tree");
    // The relays below the victim, from the root's plan (node -> parent).
    const plan = rootTree?.plan ?? {};
    const below = (node: string, depth = 0): boolean =>
      plan[node] === cluster.nodeName(victim) ||
      (plan[node] !== undefined && depth < RELAYS && below(plan[node], depth + 1));
    const orphans = readerIdx.filter((i) => below(cluster.nodeName(i)));
    assert(orphans.length > 0, `no reader below ${cluster.nodeName(victim)}`);
    const window = await runWindow(async () => {
      await cluster.relays[victim]!.stop("SIGKILL");
      console.log(
        `SIGKILL ${cluster.nodeName(victim)}, which fed ${orphans.map(cluster.nodeName).join(", ")}, at ` +
          `${KILL_AT_MS} ms into the window`,
      );
    });
    console.log(`root after: ${(await rootsOf(cluster, "cam")).map(cluster.nodeName).join(", ") || "none"}`);
    await printMembers(cluster, readers);
    checkReaders(cluster, readers, victim, window);
    assert(
      camera.totalConnections() === 1,
      `camera pulled ${camera.totalConnections()} times: only A pulls it`,
    );
  } finally {
    await Promise.all(readers.map(({ reader }) => reader.stop()));
  }
});

Deno.test("root follows the camera, Kubernetes discovery: the camera's pod moves to another node, readers decode on", async () => {
  // The camera behind the Service cam.video, on node-a; every relay configured with the Service's URL.
  await using env = await startKubeCluster({ count: RELAYS, zoneOf, fanout: FANOUT, camera: CAMERA });
  const { cluster, kube } = env;
  // Readers neither where the camera is (node-a) nor where it goes (node-b).
  const readers = startReaders(cluster, [2, 3, 4]);
  try {
    await waitServed(cluster, readers);
    const before = await rootsOf(cluster, "cam");
    assert(before.length === 1 && before[0] === 0, `roots before: ${before.map(cluster.nodeName)}`);
    // The camera's new pod, on node-b: its EndpointSlice moves, the old pod goes away.
    await using moved = await startGstCamera({ host: cluster.hostOf(1), ...CAMERA });
    const window = await runWindow(async () => {
      kube.setEndpointSlice("video", "cam", [{ address: cluster.hostOf(1), nodeName: cluster.nodeName(1) }], [
        {
          name: "rtsp",
          port: moved.port,
        },
      ]);
      await env.camera.stop();
      console.log(`the camera moved from node-a to node-b at ${KILL_AT_MS} ms into the window`);
    });
    const after = await rootsOf(cluster, "cam");
    console.log(
      `root after: ${after.map(cluster.nodeName).join(", ") || "none"}; the new camera's sessions ` +
        `${moved.totalConnections()}`,
    );
    await printMembers(cluster, readers);
    checkReaders(cluster, readers, -1, window);
    assert(after.length === 1 && after[0] === 1, `roots after the move: ${after.map(cluster.nodeName)}`);
  } finally {
    await Promise.all(readers.map(({ reader }) => reader.stop()));
  }
});
