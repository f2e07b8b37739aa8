/**
 * The standby root with real peers (issue 17): five relay processes on 127.0.0.x in two zones (static discovery,
 * fan-out 2, sealed mesh, `--protection dual`), every one configured with a GStreamer camera outside the mesh, so
 * the rendezvous hash picks the root and, without it, the standby. The standby pulls the camera too, aligns its
 * session with the root's numbering and tops the second colour's tree. A UDP reader on each of the four other
 * relays counts every RTP sequence number while the root is SIGKILLed: the standby becomes the root with its own
 * session (the camera sees no new session from it), the tree keeps the old epoch, and the readers print the gap;
 * ffmpeg decodes on through it on the relay farthest from both roots.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { rendezvous } from "../src/cluster/root_locator.ts";
import { startRelayCluster } from "./support/mesh.ts";
import { delay, startGstCamera } from "./support/processes.ts";
import { startRtspReader } from "./support/rtsp_peers.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import { udpDrops } from "./support/udp_drops.ts";

const RELAYS = 5;
/** Packets a reader may lose beyond the camera's own while the members follow the new root's plan. */
const REPLAN_SLACK = 5;
const zoneOf = (i: number) => (i < 3 ? "zone-1" : "zone-2");

interface TreeBody {
  epoch?: string | null;
  role?: string;
  parents?: string[];
  planParents?: Record<string, string[]>;
  standby?: { node: string | null; promoted: boolean; aligned?: boolean; delivered?: number };
}

/** What one reader got: sequence numbers (the readers' numbering of its relay) and arrival times. */
interface Log {
  seqs: number[];
  at: number[];
}

for (const fast of [false, true]) {
  Deno.test({
    name:
      `standby root, ${
        fast ? "fast" : "portable"
      } plane: SIGKILL of the root, the standby carries the camera on ` +
      "with its own session and epoch",
    ignore: Deno.build.os !== "linux",
    async fn() {
      await using camera = await startGstCamera({ fps: 25, gop: 25 });
      await using cluster = await startRelayCluster({
        count: RELAYS,
        zoneOf,
        discovery: "static",
        fanout: 2,
        // TCP pulls: on one machine a relay's connection to the camera leaves from 127.0.0.1. A second of latency
        // budget: on a loaded machine one path can lag the other by more than the default.
        argsOf: () => [
          ...["--path", `cam=${camera.url}`, "--pull-transport", "tcp"],
          ...["--protection", "dual", "--mesh-nack-budget-ms", "1000"],
          ...["--data-plane", fast ? "fast" : "portable"],
        ],
        permissions: fast ? ["--allow-ffi"] : [],
      });
      const nodes = cluster.relays.map((_, i) => cluster.nodeName(i));
      const root = nodes.indexOf(rendezvous("cam", nodes)!);
      const standby = nodes.indexOf(rendezvous("cam", nodes.filter((_, i) => i !== root))!);
      const others = nodes.map((_, i) => i).filter((i) => i !== root);
      const logs = new Map<number, Log>();
      // The camera's own losses: GStreamer's shared media skips a sequence number in every session when a client
      // connects (the next standby will). A reader straight at the camera counts them; the relays must add none.
      const reference: Log = { seqs: [], at: [] };
      const readers = [
        await startRtspReader(camera.url, {
          transport: "tcp",
          onRtp: (p) => {
            reference.seqs.push((p[2]! << 8) | p[3]!);
            reference.at.push(performance.now());
          },
        }),
      ];
      for (const i of others) {
        const log: Log = { seqs: [], at: [] };
        logs.set(i, log);
        readers.push(
          await startRtspReader(cluster.relays[i]!.url("cam"), {
            transport: "udp",
            onRtp: (p) => {
              log.seqs.push((p[2]! << 8) | p[3]!);
              log.at.push(performance.now());
            },
          }),
        );
      }
      // And ffmpeg decoding on the relay farthest from both roots: what a viewer sees.
      const viewer = others.filter((i) => i !== standby).at(-1)!;
      const ffmpeg = startProgressReader(
        cluster.relays[viewer]!.url("cam"),
        "tcp",
        `ffmpeg@${nodes[viewer]}`,
      );
      try {
        const tree = (i: number) => cluster.relays[i]!.get<TreeBody>("/api/v1/tree/cam").then((r) => r.body);
        // The standby aligned, every other member with two parents, before the window.
        const deadline = Date.now() + 30_000;
        let rootTree: TreeBody | null = null;
        let standbyTree: TreeBody | null = null;
        while (Date.now() < deadline) {
          [rootTree, standbyTree] = [await tree(root), await tree(standby)];
          const two = Object.values(rootTree?.planParents ?? {}).filter((p) => p.length === 2).length;
          if (
            rootTree?.standby?.node === nodes[standby] && standbyTree?.standby?.aligned && two >= RELAYS - 2
          ) {
            break;
          }
          await delay(250);
        }
        console.log(
          `root ${nodes[root]}, standby ${nodes[standby]}; plan ${JSON.stringify(rootTree?.planParents)}; ` +
            `standby ${JSON.stringify(standbyTree?.standby)}`,
        );
        assert(
          rootTree?.standby?.node === nodes[standby],
          `the root names no standby: ${JSON.stringify(rootTree)}`,
        );
        assert(standbyTree?.standby?.aligned, `the standby did not align: ${JSON.stringify(standbyTree)}`);
        const epoch = rootTree!.epoch;
        const sessionsBefore = camera.totalConnections();
        await delay(3000);
        await ffmpeg.waitForFrames(25, 30_000);
        const udpPorts = readers.map((r) => r.clientPort).filter((p) => p !== null);
        const drops0 = udpDrops(udpPorts);
        const from = performance.now();
        const wallFrom = Date.now();
        await delay(4000);
        const killedAt = performance.now();
        await cluster.relays[root]!.stop("SIGKILL");
        console.log(`SIGKILL ${nodes[root]} (the root)`);
        await delay(8000);
        const to = performance.now();
        const wallTo = Date.now();
        const kernelDrops = udpDrops(udpPorts) - drops0;
        const after = await tree(standby);
        console.log(
          `after: ${nodes[standby]} is ${after?.role} in epoch ${after?.epoch} (before: ${epoch}), ` +
            `standby ${JSON.stringify(after?.standby)}; camera sessions ${sessionsBefore} before, ` +
            `${camera.totalConnections()} after`,
        );
        const failures: string[] = [];
        const frames = ffmpeg.framesBetween(wallFrom, wallTo);
        const expected = Math.round(25 * (wallTo - wallFrom) / 1000);
        console.log(
          `ffmpeg on ${nodes[viewer]}: ${frames} of ${expected} frames decoded in the window, longest gap ` +
            `${ffmpeg.longestGapMs(wallFrom, wallTo)} ms${ffmpeg.process.running ? "" : ", EXITED early"}`,
        );
        if (!ffmpeg.process.running) failures.push(`ffmpeg stopped early\n${ffmpeg.process.output(20)}`);
        // The floor the failover tests share (a busy machine decodes late, never nothing).
        if (frames < 0.8 * expected) failures.push(`ffmpeg decoded ${frames} < 80 % of ${expected} frames`);
        const cameraLost = count(reference, from, to, -1).missing;
        console.log(`the camera's own session (a reader at the camera): lost ${cameraLost}`);
        for (const [i, log] of logs) {
          const { seqs, missing, backwards, holes, gap } = count(log, from, to, killedAt);
          console.log(
            `reader on ${nodes[i]}${i === standby ? " (the standby)" : ""}: ${seqs} packets, ` +
              `missed ${missing}, ${backwards} out of order or repeated, longest gap from a second before the kill ` +
              `${gap.toFixed(0)} ms${holes.length > 0 ? ` (holes: ${holes.join(", ")})` : ""}`,
          );
          // The members re-parent onto the new root's plan right after the take-over; on a loaded machine one
          // full-suite run lost 2 packets at one reader there (make before break across two parents). A root's
          // death without a standby costs about 65 (0.8 s of this camera's 81 packets per second): the bound tells them apart.
          if (missing > kernelDrops + cameraLost + REPLAN_SLACK) {
            failures.push(
              `${nodes[i]}: missed ${missing} (kernel drops ${kernelDrops}, camera ${cameraLost})`,
            );
          }
          if (backwards > 0) failures.push(`${nodes[i]}: ${backwards} out of order or repeated`);
        }
        assert(after?.role === "root", `the standby is not the root: ${JSON.stringify(after)}`);
        assert(
          after?.standby?.promoted,
          `the root was not promoted from the standby: ${JSON.stringify(after)}`,
        );
        assert(after?.epoch === epoch, `the epoch changed: ${epoch} -> ${after?.epoch}`);
        // The new root opened no session of its own; the next standby may have opened one.
        assert(
          camera.totalConnections() - sessionsBefore <= 1,
          `camera sessions ${sessionsBefore} -> ${camera.totalConnections()}`,
        );
        assert(failures.length === 0, failures.join("\n"));
      } finally {
        await ffmpeg.stop();
        for (const r of readers) await r.close().catch(() => {});
      }
    },
  });
}

/**
 * What a reader got between `from` and `to`: packets, numbers skipped, packets out of order or repeated, where
 * the holes are (ms from `mark`), and the longest silence from a second before `mark` on.
 */
function count(log: Log, from: number, to: number, mark: number) {
  const inWindow = log.at.map((t, k) => [t, log.seqs[k]!] as const).filter(([t]) => t >= from && t <= to);
  let missing = 0;
  let backwards = 0;
  const holes: string[] = [];
  let gap = 0;
  for (let k = 1; k < inWindow.length; k++) {
    const [t, seq] = inWindow[k]!;
    const [before, previous] = inWindow[k - 1]!;
    const step = (seq - previous) & 0xffff;
    if (step === 0 || step > 0x8000) backwards++;
    else if (step > 1) {
      missing += step - 1;
      holes.push(`${step - 1} at ${(t - mark).toFixed(0)} ms`);
    }
    if (t >= mark - 1000) gap = Math.max(gap, t - before);
  }
  return { seqs: inWindow.length, missing, backwards, holes, gap };
}
