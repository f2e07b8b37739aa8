/**
 * A mesh member on the fast data plane sends its parent's RTP to its UDP readers from its Worker (the member's
 * cut-through, src/dataplane/mesh_ingress.ts), sealed and open: every packet once and in order, the Worker's
 * cut-through counter growing with the stream, and packets injected at the member's mesh port never reaching the
 * reader.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { encodeMeshPacket } from "../src/cluster/mesh_frame.ts";
import { startRelayCluster, TEST_MESH_KEY } from "./support/mesh.ts";
import {
  cachedTestClip,
  delay,
  ffmpegPublish,
  ffmpegRead,
  gstRead,
  waitPublishing,
} from "./support/processes.ts";
import type { RelayProcess } from "./support/relay.ts";
import { startRtspPublisher, startRtspReader } from "./support/rtsp_peers.ts";
import { udpDrops } from "./support/udp_drops.ts";
import { startProgressReader } from "./support/progress_reader.ts";
import { treeOf } from "./support/tree_scenario.ts";
import { parsePrometheus, sampleValue } from "./support/prometheus.ts";
import {
  FORGED,
  NUMBERED_SDP as SDP,
  numberedPacket as packet,
  publishNumbered as publish,
  Seen,
} from "./support/numbered_stream.ts";

const PACKETS = 3000;
const linux = Deno.build.os === "linux";

/** Datagrams the relay's fast plane sent on its own (cut-through). */
async function cutThrough(relay: RelayProcess): Promise<number> {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/metrics`);
  const families = parsePrometheus(await res.text());
  return sampleValue(families, "msm_dataplane_datagrams_total", { event: "cut_through" }) ?? 0;
}

for (const sealed of [true, false]) {
  Deno.test({
    name: `fast plane: a mesh member's Worker sends its parent's RTP to its UDP reader itself, ${
      sealed ? "sealed" : "open"
    }; every packet once, in order, none injected`,
    ignore: !linux,
    async fn() {
      await using cluster = await startRelayCluster({
        count: 2,
        zoneOf: () => "zone-1",
        discovery: "static",
        meshKey: sealed ? TEST_MESH_KEY : null,
        permissions: ["--allow-ffi"],
        argsOf: () => ["--data-plane", "fast"],
      });
      const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
      await using pub = await startRtspPublisher(a.url("ingress"), SDP, { transport: "tcp" });
      for (let i = 0; i < 5; i++) await pub.send(packet(0)); // the root learns the stream before the reader asks
      const seen = new Seen();
      await using reader = await startRtspReader(b.url("ingress"), { transport: "udp", onRtp: seen.record });
      const drops0 = udpDrops([reader.clientPort!]);
      const before = await cutThrough(b);
      const inject = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      const to = { transport: "udp" as const, hostname: b.host, port: b.meshPort };
      let injected = 0;
      try {
        await publish(pub, PACKETS, (i) => {
          if (i % 200 !== 199) return;
          // Frames for made-up subscriptions, numbered ahead of the stream: never the reader's.
          for (let id = 1; id <= 16; id++) {
            const p = packet(FORGED);
            new DataView(p.buffer).setUint16(2, (i + 20) & 0xffff);
            void inject.send(encodeMeshPacket("rtp", id, 0, p), to).catch(() => {});
            injected++;
          }
        });
        await delay(500);
      } finally {
        inject.close();
      }
      const served = (await cutThrough(b)) - before;
      const kernelDrops = udpDrops([reader.clientPort!]) - drops0;
      console.log(
        `${sealed ? "sealed" : "open"}: reader got ${seen.indexes.length} of ${PACKETS} (from ${
          seen.indexes[0]
        }), forged ${seen.forged} of ${injected} injected; member's Worker sent ${served} datagrams itself; ` +
          `kernel drops ${kernelDrops}`,
      );
      seen.assertInOrder("reader on the member", PACKETS - 1, kernelDrops);
      assert(seen.forged === 0, `${seen.forged} injected packets reached the reader`);
      // The Worker takes over once the member's source is attached; most of the stream is its.
      assert(served >= PACKETS / 2, `the member's Worker sent ${served} datagrams of ${PACKETS} itself`);
    },
  });
}

Deno.test({
  name:
    "sealed mesh, a root on the portable plane: ffmpeg and GStreamer read over UDP on a fast-plane member whose Worker sends them the root's video",
  ignore: !linux,
  async fn() {
    await using cluster = await startRelayCluster({
      count: 2,
      zoneOf: () => "zone-1",
      discovery: "static",
      meshKey: TEST_MESH_KEY,
      permissions: ["--allow-ffi"],
      // Relays configured differently: the root on the portable plane, the member on the fast one.
      argsOf: (i) => ["--data-plane", i === 0 ? "portable" : "fast"],
    });
    const [a, b] = cluster.relays as [RelayProcess, RelayProcess];
    await using publisher = ffmpegPublish(await cachedTestClip(60), a.url("live/cam"), "tcp");
    await waitPublishing(publisher, 15_000);
    // The first reader makes the member join the tree; the Worker takes over a second after it attached.
    const warm = await ffmpegRead(b.url("live/cam"), { transport: "udp", seconds: 2 });
    assert(warm.frames > 0, `first reader on the member: no frame\n${warm.stderr}`);
    const before = await cutThrough(b);
    const [viaFfmpeg, viaGst] = await Promise.all([
      ffmpegRead(b.url("live/cam"), { transport: "udp", seconds: 4 }),
      gstRead(b.url("live/cam"), { transport: "udp", seconds: 4 }),
    ]);
    const served = (await cutThrough(b)) - before;
    console.log(
      `ffmpeg decoded ${viaFfmpeg.frames} frames, GStreamer ${viaGst.buffers} buffers over UDP from the member; ` +
        `the member's Worker sent ${served} datagrams itself`,
    );
    // 25 frames/s for about 4 s each (the clip), whatever each peer's start-up takes.
    assert(viaFfmpeg.frames >= 50, `ffmpeg: ${viaFfmpeg.frames} frames\n${viaFfmpeg.stderr}`);
    assert(viaGst.buffers >= 50, `GStreamer: ${viaGst.buffers} buffers`);
    assert(served >= 40, `the member's Worker sent ${served} datagrams itself`);
  },
});

Deno.test({
  name:
    "fast plane, sealed chain: SIGKILL of the member that feeds another; the orphan's Worker takes its new parent's video to its UDP reader",
  ignore: !linux,
  async fn() {
    await using cluster = await startRelayCluster({
      count: 3,
      zoneOf: () => "zone-1",
      discovery: "static",
      fanout: 1,
      meshKey: TEST_MESH_KEY,
      permissions: ["--allow-ffi"],
      argsOf: () => ["--data-plane", "fast"],
    });
    const relays = cluster.relays as [RelayProcess, RelayProcess, RelayProcess];
    await using publisher = ffmpegPublish(await cachedTestClip(60), relays[0].url("live/chain"), "tcp");
    await waitPublishing(publisher, 15_000);
    await using first = startProgressReader(relays[1].url("live/chain"), "udp", "reader-1");
    await using second = startProgressReader(relays[2].url("live/chain"), "udp", "reader-2");
    await first.waitForFrames(50, 20_000);
    await second.waitForFrames(50, 20_000);
    // A chain (fan-out 1): the root feeds one member, which feeds the other.
    const middle: 1 | 2 = (await treeOf(relays[1], "live/chain"))?.children.length ? 1 : 2;
    const orphan: 1 | 2 = middle === 1 ? 2 : 1;
    const orphanReader = orphan === 1 ? first : second;
    assert((await treeOf(relays[middle], "live/chain"))?.children.length === 1, "a chain of three");
    await delay(1500); // the orphan's Worker forwards its parent's frames by now
    const killedAt = Date.now();
    await relays[middle].stop("SIGKILL");
    // Re-parented, the orphan binds its new subscription a second later: its Worker sends again.
    const before = await cutThrough(relays[orphan]);
    await delay(5000);
    const served = (await cutThrough(relays[orphan])) - before;
    const after = orphanReader.framesBetween(killedAt + 2000, Date.now());
    const gap = orphanReader.longestGapMs(killedAt, Date.now());
    const tree = await treeOf(relays[orphan], "live/chain");
    console.log(
      `SIGKILL ${cluster.nodeName(middle)}: ${
        cluster.nodeName(orphan)
      } re-parented to ${tree?.parent}; its reader ` +
        `decoded ${after} frames in the 3 s after the first 2, longest gap ${gap} ms; its Worker sent ${served} ` +
        `datagrams itself in 5 s`,
    );
    assertEquals(tree?.parent, cluster.nodeName(0), "the orphan's parent is the root now");
    assert(after >= 30, `the orphan's reader decoded ${after} frames in 3 s after the re-parent`);
    assert(served >= 20, `the orphan's Worker sent ${served} datagrams after the re-parent`);
  },
});
